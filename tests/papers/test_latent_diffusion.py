"""Latent diffusion: the schedule, the two spaces, the shared denoiser, time to quality, bad input
(exit 2 before training) and a quick run. The samplers' and schedules' parity with diffusers is in
tests/test_diffusion.py."""

from __future__ import annotations

import json
import math

import pytest
import torch

from landmarks.cli import main
from landmarks.engine import Run
from landmarks.nn.autoencoder import latent_scale_factor
from landmarks.papers import latent_diffusion as ld

QUICK = ld.PRESETS["quick"]


def test_ldm_schedule_keeps_the_paper_s_terminal_noise_level_at_any_length():
    paper = ld.NoiseSchedule(1000, "scaled_linear", beta_start=0.00085, beta_end=0.012)  # LDM's configs
    assert float(paper.alphas_cumprod[-1]) == pytest.approx(0.0047, abs=2e-4)
    for t_count in (200, 1000):
        short = ld.ldm_schedule(t_count)
        assert short.num_train_timesteps == t_count and short.prediction_type == "epsilon"
        assert float(short.alphas_cumprod[-1]) == pytest.approx(float(paper.alphas_cumprod[-1]), rel=0.1)
    assert torch.equal(ld.ldm_schedule(1000).betas, paper.betas)


def test_time_to_quality_needs_the_bar_held_to_the_end():
    def evals(*accuracies):
        return [{"seconds": 10.0 * (i + 1), "accuracy": a} for i, a in enumerate(accuracies)]

    assert ld.time_to_quality(evals(0.5, 0.85, 0.9, 0.95)) == 20.0
    assert ld.time_to_quality(evals(0.85, 0.7, 0.81, 0.8)) == 30.0  # a lucky early pass does not count
    assert ld.time_to_quality(evals(0.9, 0.95, 0.79)) is None  # below the bar at the end
    assert ld.time_to_quality([]) is None


def test_the_two_spaces_share_one_denoiser_but_their_inputs():
    pixel = ld.denoiser(3, QUICK, 4)
    latent = ld.denoiser(QUICK.latent_channels, QUICK, 4)
    a, b = pixel.state_dict(), latent.state_dict()
    assert list(a) == list(b)
    differ = {k for k in a if a[k].shape != b[k].shape}
    assert differ == {"conv_in.weight", "conv_out.weight", "conv_out.bias"}


def test_latent_space_encodes_scales_and_decodes():
    torch.manual_seed(0)
    ae = ld.autoencoder(QUICK).eval()
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        moments = ae.encode(x).mode()
    space = ld.LatentSpace(ae, latent_scale_factor(moments))
    z = space.encode(x)
    assert z.shape == (6, *space.shape) == (6, QUICK.latent_channels, 8, 8)
    assert float(z.std()) == pytest.approx(1.0, rel=1e-4)  # unit variance for diffusion (Sec. 4.3.2)
    fitted, latents = ld.LatentSpace.fit(ae, x, torch.device("cpu"))
    assert fitted.scale == space.scale and torch.allclose(latents, z, atol=1e-6)
    images = space.to_images(z)
    with torch.no_grad():
        expected = ((ae.decode(moments) + 1) / 2).clamp(0, 1)
    assert torch.allclose(images, expected, atol=1e-5)
    pixels = ld.PixelSpace()
    assert torch.equal(pixels.encode(x), x) and torch.allclose(pixels.to_images(x), (x + 1) / 2)
    assert pixels.clip_x0 == 1.0 and space.clip_x0 is None


def test_sampling_is_seeded_and_returns_images_in_the_unit_range():
    torch.manual_seed(0)
    model = ld.denoiser(3, QUICK, 4)
    schedule = ld.ldm_schedule(QUICK.timesteps)
    labels = torch.arange(8) % 4
    kwargs = {"guidance": 3.0, "steps": 4}
    a = ld.sample(model, schedule, ld.PixelSpace(), labels, torch.Generator().manual_seed(1), **kwargs)
    b = ld.sample(model, schedule, ld.PixelSpace(), labels, torch.Generator().manual_seed(1), **kwargs)
    assert torch.equal(a, b) and a.shape == (8, 3, 16, 16)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    full = ld.sample(
        model,
        schedule,
        ld.PixelSpace(),
        labels,
        torch.Generator().manual_seed(1),
        guidance=0.0,
        steps=None,
        sampler="ddpm",
    )
    assert full.shape == a.shape and not torch.equal(full, a)


def test_sampling_in_chunks_draws_the_same_images(monkeypatch):
    """DDIM chains are independent given x_T: cutting the batch into UNet calls of a few images
    (``POSITIONS_PER_CALL``) changes the speed, not the samples."""
    torch.manual_seed(0)
    model = ld.denoiser(3, QUICK, 4)
    schedule = ld.ldm_schedule(QUICK.timesteps)
    labels = torch.arange(7) % 4

    def draw(guidance: float) -> torch.Tensor:
        g = torch.Generator().manual_seed(1)
        return ld.sample(model, schedule, ld.PixelSpace(), labels, g, guidance=guidance, steps=3)

    whole = {w: draw(w) for w in (1.0, 3.0)}
    monkeypatch.setattr(ld, "POSITIONS_PER_CALL", 2 * 16 * 16)  # 2 images a call, or 1 guided ([x; x])
    for w, expected in whole.items():
        assert torch.allclose(draw(w), expected, atol=1e-5)


def test_training_is_deterministic_for_a_seed(tmp_path):
    def train(out):
        run = Run(paper="latent-diffusion", seed=3, device=torch.device("cpu"), out=out, show_progress=False)
        torch.manual_seed(0)
        model = ld.denoiser(3, QUICK, 4)
        x = torch.rand(40, 3, 16, 16) * 2 - 1
        y = torch.arange(40) % 4
        history = ld.train_diffusion(
            run, "pixel", model, ld.ldm_schedule(QUICK.timesteps), x, y, QUICK, QUICK.pixel_steps
        )
        return history.loss, model.state_dict()

    (loss_a, state_a), (loss_b, state_b) = train(tmp_path / "a"), train(tmp_path / "b")
    assert loss_a == loss_b and all(math.isfinite(v) for v in loss_a)
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("guidance=-1", "guidance=-1.0: the classifier-free guidance scale must be >= 0"),
        ("ddim_steps=0", "ddim_steps=0: a sampler takes between 1 and 20 steps"),
        ("ddim_steps=21", "ddim_steps=21: a sampler takes between 1 and 20 steps"),
        ("timesteps=1", "timesteps (T) must be >= 2"),
        ("latent_factor=3", "latent_factor must be 1, 2, 4 or 8"),
        ("label_drop=1", "label_drop must be in [0, 1)"),
        ("samples=2", "samples must be >= 4"),
    ],
)
def test_bad_settings_exit_2_before_training(setting, message, capsys):
    assert main(["run", "latent-diffusion", "--quick", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_quick_run_writes_result(tmp_path):
    from landmarks.runner import run_paper

    result = run_paper("latent-diffusion", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "latent-diffusion" / "result.json").read_text())
    assert [c["statement"] for c in saved["claims"]] == [c.statement for c in ld.CARD.claims]
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    metrics = saved["metrics"]
    for name in ("pixel", "latent"):
        row = metrics[name]
        assert {"train_seconds", "sample_seconds", "accuracy", "accuracy_unguided", "fid", "curve"} <= set(
            row
        )
        assert 0 <= row["accuracy"] <= 1 and row["fid"] >= 0
    # one more input and output channel (4 latent channels, 3 colours): the rest is the same UNet
    assert metrics["latent"]["parameters"] - metrics["pixel"]["parameters"] == 2 * 9 * QUICK.unet_channels + 1
    assert {"accuracy_ddpm_unguided", "fid_ddpm_unguided"} <= set(metrics["latent"])
    assert metrics["autoencoder"]["latent_shape"] == [4, 8, 8]
    for plot in ("samples.png", "cost.png", "reconstructions.png"):
        assert (tmp_path / "latent-diffusion" / plot).stat().st_size > 0


def test_denoiser_runs_channels_last_and_computes_the_same_function():
    torch.manual_seed(0)
    model = ld.denoiser(4, QUICK, num_classes=3).eval()
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain = ld.denoiser(4, QUICK, num_classes=3).to(memory_format=torch.contiguous_format).eval()
    plain.load_state_dict(model.state_dict())
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([3, 17]), torch.tensor([0, 2])
    with torch.no_grad():
        torch.testing.assert_close(model(x, t, y), plain(x, t, y), atol=1e-5, rtol=1e-4)


def test_autoencoder_runs_channels_last_and_computes_the_same_function():
    torch.manual_seed(0)
    model = ld.autoencoder(QUICK).eval()
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain = ld.autoencoder(QUICK).to(memory_format=torch.contiguous_format).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x).mode(), plain.encode(x).mode(), atol=1e-5, rtol=1e-4)
        z = torch.randn(3, QUICK.latent_channels, 8, 8)
        torch.testing.assert_close(model.decode(z), plain.decode(z), atol=1e-5, rtol=1e-4)
