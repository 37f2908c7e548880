"""landmarks.nn.diffusion, unet and autoencoder: parity with diffusers' DDPMScheduler and
DDIMScheduler (schedules, timesteps, add_noise, single steps, whole loops; float64, 1e-6),
classifier-free guidance, samplers that recover x_0 from an oracle, the UNet's and the KL
autoencoder's invariants, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from landmarks.errors import UserInputError
from landmarks.nn.autoencoder import DiagonalGaussian, KLAutoencoder, latent_scale_factor
from landmarks.nn.diffusion import (
    DiffusionInputError,
    NoiseSchedule,
    SamplerStep,
    check_sampling,
    classifier_free_guidance,
    ddim_sample,
    ddim_step,
    ddpm_sample,
    ddpm_step,
    diffusion_loss,
    guided_prediction,
    schedule_betas,
)
from landmarks.nn.unet import UNet, drop_labels, timestep_embedding

F64 = torch.float64
TOL = 1e-6
# beta_start, beta_end per schedule: DDPM's for linear, LDM's for scaled_linear
SCHEDULES = {"linear": (1e-4, 0.02), "scaled_linear": (0.00085, 0.012), "squaredcos_cap_v2": (1e-4, 0.02)}


@pytest.fixture(scope="module")
def diffusers():
    return pytest.importorskip("diffusers")


def _schedule(name: str = "linear", prediction_type: str = "epsilon", t_count: int = 1000) -> NoiseSchedule:
    start, end = SCHEDULES[name]
    return NoiseSchedule(t_count, name, start, end, prediction_type)  # type: ignore[arg-type]


def _reference(cls, ours: NoiseSchedule, **config):
    """diffusers' scheduler configured as ``ours``, running its equations on our float64 tables.

    diffusers builds β and ᾱ in float32; the tables are compared with its own on their own
    (``test_betas_and_alphas_cumprod_match_diffusers``), and the operations on float64 tables, so
    that 1e-6 holds the equations to each other rather than measuring float32 rounding
    (which √ᾱ_t ≈ 0.006 at t = 999 amplifies in x̂_0 = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t).
    """
    start, end = SCHEDULES[ours.beta_schedule]
    ref = cls(
        num_train_timesteps=ours.num_train_timesteps,
        beta_schedule=ours.beta_schedule,
        beta_start=start,
        beta_end=end,
        prediction_type=ours.prediction_type,
        clip_sample=config.pop("clip_sample", False),
        **config,
    )
    ref.betas, ref.alphas, ref.alphas_cumprod = (
        ours.betas.clone(),
        ours.alphas.clone(),
        ours.alphas_cumprod.clone(),
    )
    ref.one = torch.tensor(1.0, dtype=F64)  # DDPM's ᾱ after the last step
    ref.final_alpha_cumprod = torch.tensor(1.0, dtype=F64)  # DDIM's (set_alpha_to_one=True)
    return ref


def _rand(*shape: int, seed: int = 0) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ---- parity with diffusers -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("t_count", [1000, 50])
def test_betas_and_alphas_cumprod_match_diffusers(diffusers, name: str, t_count: int) -> None:
    ours = _schedule(name, t_count=t_count)
    start, end = SCHEDULES[name]
    ref = diffusers.DDPMScheduler(
        num_train_timesteps=t_count, beta_schedule=name, beta_start=start, beta_end=end
    )
    assert ours.betas.dtype == F64 and ours.betas.shape == (t_count,)
    torch.testing.assert_close(ours.betas, ref.betas.double(), atol=TOL, rtol=0)
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod.double(), atol=TOL, rtol=0)
    ddim = diffusers.DDIMScheduler(
        num_train_timesteps=t_count, beta_schedule=name, beta_start=start, beta_end=end
    )
    torch.testing.assert_close(ours.alphas_cumprod, ddim.alphas_cumprod.double(), atol=TOL, rtol=0)


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_timesteps_match_diffusers_for_every_step_count(diffusers, spacing: str) -> None:
    for t_count in (1000, 37):
        ours = _schedule(t_count=t_count)
        ref = diffusers.DDIMScheduler(num_train_timesteps=t_count, timestep_spacing=spacing)
        for steps in range(1, t_count + 1):
            ref.set_timesteps(steps)
            got, want = ours.timesteps(steps, spacing).tolist(), ref.timesteps.tolist()
            if spacing == "trailing" and len(want) == steps + 1:
                # numpy's arange(T, 0, −T/n) overshoots for some n (61, 103, … of 1000): diffusers
                # then gets a last timestep of −1; ours stops at n
                assert want[-1] == -1, (steps, want[-3:])
                want = want[:-1]
            assert got == want, (t_count, steps)
    ref = diffusers.DDPMScheduler(timestep_spacing="leading", steps_offset=1)
    ref.set_timesteps(50)
    assert _schedule().timesteps(50, "leading", steps_offset=1).tolist() == ref.timesteps.tolist()


def test_known_timesteps() -> None:
    s = _schedule()
    assert s.timesteps(10, "leading").tolist() == list(range(900, -1, -100))
    assert s.timesteps(10, "trailing").tolist() == list(range(999, 0, -100))
    assert s.timesteps(10, "linspace").tolist() == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert s.timesteps(1000, "leading").tolist() == list(range(999, -1, -1))


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_add_noise_and_velocity_match_diffusers(diffusers, name: str) -> None:
    ours = _schedule(name)
    t = torch.tensor([0, 1, 250, 500, 998, 999])
    x0, noise = _rand(6, 3, 4, 4, seed=1), _rand(6, 3, 4, 4, seed=2)
    ref = _reference(diffusers.DDPMScheduler, ours)
    torch.testing.assert_close(ours.add_noise(x0, noise, t), ref.add_noise(x0, noise, t), atol=TOL, rtol=0)
    torch.testing.assert_close(ours.velocity(x0, noise, t), ref.get_velocity(x0, noise, t), atol=TOL, rtol=0)
    # and with diffusers' own float32 tables, end to end: within 1e-5, not 1e-6, because float32
    # rounds ᾱ_1 ≈ 1 − 3e-4 by 6e-8, an error of 2e-4 in 1 − ᾱ_1 and 1e-4 in its square root
    start, end = SCHEDULES[name]
    own = diffusers.DDPMScheduler(beta_schedule=name, beta_start=start, beta_end=end)
    torch.testing.assert_close(ours.add_noise(x0, noise, t), own.add_noise(x0, noise, t), atol=1e-5, rtol=0)
    # one timestep for the whole batch, as an int
    torch.testing.assert_close(ours.add_noise(x0, noise, 700), ref.add_noise(x0, noise, torch.tensor(700)))


def _ddpm_cases() -> list[tuple[str, int | None]]:
    return [("full", None), ("leading", 10), ("trailing", 10), ("linspace", 7)]


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
@pytest.mark.parametrize("clip", [None, 1.0])
def test_ddpm_step_matches_diffusers(diffusers, prediction_type: str, clip: float | None) -> None:
    ours = _schedule("linear", prediction_type)
    shape = (3, 2, 4, 4)
    for spacing, steps in _ddpm_cases():
        ref = _reference(
            diffusers.DDPMScheduler,
            ours,
            clip_sample=clip is not None,
            clip_sample_range=clip or 1.0,
            timestep_spacing="leading" if steps is None else spacing,
        )
        if steps is None:  # the full chain: t → t − 1
            pairs = [(t, t - 1) for t in (999, 998, 500, 1, 0)]
        else:
            ref.set_timesteps(steps)
            ts = ref.timesteps.tolist()
            pairs = [(t, s) for t, s in zip(ts, [*ts[1:], -1])]
            assert ts == ours.timesteps(steps, spacing).tolist()  # type: ignore[arg-type]
        for i, (t, s) in enumerate(pairs):
            x_t, out = _rand(*shape, seed=10 + i) * 2, _rand(*shape, seed=20 + i)
            want = ref.step(out, t, x_t, generator=torch.Generator().manual_seed(i))
            got = ddpm_step(ours, out, t, x_t, s, generator=torch.Generator().manual_seed(i), clip_x0=clip)
            ctx = (spacing, t, s)
            torch.testing.assert_close(got.x0_pred, want.pred_original_sample, atol=TOL, rtol=0, msg=str(ctx))
            torch.testing.assert_close(got.x_prev, want.prev_sample, atol=TOL, rtol=0, msg=str(ctx))


def test_ddpm_step_takes_one_timestep_per_sample(diffusers) -> None:
    """A (B,) vector of timesteps equals B separate steps; injected noise equals the generator's."""
    ours = _schedule("scaled_linear")
    ref = _reference(diffusers.DDPMScheduler, ours)
    t = torch.tensor([999, 500, 1, 0])
    x_t, out = _rand(4, 2, 3, 3, seed=3), _rand(4, 2, 3, 3, seed=4)
    noise = torch.cat(
        [torch.randn(1, 2, 3, 3, generator=torch.Generator().manual_seed(i), dtype=F64) for i in range(4)]
    )
    got = ddpm_step(ours, out, t, x_t, noise=noise)
    for i in range(4):
        want = ref.step(out[i : i + 1], int(t[i]), x_t[i : i + 1], generator=torch.Generator().manual_seed(i))
        torch.testing.assert_close(got.x_prev[i : i + 1], want.prev_sample, atol=TOL, rtol=0)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_diffusers(diffusers, prediction_type: str, eta: float) -> None:
    ours = _schedule("scaled_linear", prediction_type)
    shape = (3, 2, 4, 4)
    for spacing, steps in [("leading", 10), ("trailing", 20), ("linspace", 1000), ("leading", 1)]:
        ref = _reference(diffusers.DDIMScheduler, ours, timestep_spacing=spacing)
        ref.set_timesteps(steps)
        ts = ref.timesteps.tolist()
        assert ts == ours.timesteps(steps, spacing).tolist()  # type: ignore[arg-type]
        picks = sorted(
            {0, min(1, len(ts) - 1), len(ts) // 2, len(ts) - 1}
        )  # the first and the last step among them
        for i in picks:
            t = ts[i]
            s = t - 1000 // steps  # diffusers' previous timestep (= the next of ours when T % n == 0)
            x_t, out, z = (
                _rand(*shape, seed=30 + i) * 2,
                _rand(*shape, seed=40 + i),
                _rand(*shape, seed=50 + i),
            )
            want = ref.step(out, t, x_t, eta=eta, variance_noise=z)
            got = ddim_step(ours, out, t, x_t, s, eta=eta, noise=z)
            torch.testing.assert_close(got.x0_pred, want.pred_original_sample, atol=TOL, rtol=0)
            torch.testing.assert_close(
                got.x_prev, want.prev_sample, atol=TOL, rtol=0, msg=str((spacing, t, s))
            )
            if eta > 0:  # the generator's draw is the injected noise's
                want = ref.step(out, t, x_t, eta=eta, generator=torch.Generator().manual_seed(i))
                got = ddim_step(ours, out, t, x_t, s, eta=eta, generator=torch.Generator().manual_seed(i))
                torch.testing.assert_close(got.x_prev, want.prev_sample, atol=TOL, rtol=0)


def test_ddim_step_with_clipping_matches_diffusers(diffusers) -> None:
    ours = _schedule("linear")
    ref = _reference(diffusers.DDIMScheduler, ours, clip_sample=True, clip_sample_range=1.5)
    ref.set_timesteps(25)
    x_t, out, z = _rand(2, 3, 4, 4, seed=5) * 3, _rand(2, 3, 4, 4, seed=6), _rand(2, 3, 4, 4, seed=7)
    for t in (960, 480, 0):
        assert ours.split_prediction(out, x_t, t)[0].abs().max() > 1.5  # something to clip
        for eta in (0.0, 0.7):
            # ε̂ re-derived from the clipped x̂_0: diffusers' use_clipped_model_output
            want = ref.step(out, t, x_t, eta=eta, use_clipped_model_output=True, variance_noise=z)
            got = ddim_step(ours, out, t, x_t, t - 40, eta=eta, noise=z, clip_x0=1.5)
            assert got.x0_pred.abs().max() <= 1.5
            torch.testing.assert_close(got.x_prev, want.prev_sample, atol=TOL, rtol=0)


def _toy_model(x: Tensor, t: Tensor, cond: Tensor | None) -> Tensor:
    """A fixed, nonlinear stand-in for a trained network (per-sample t)."""
    scale = (t.to(x.dtype) / 1000.0).reshape(-1, *([1] * (x.dim() - 1)))
    return torch.tanh(0.7 * x) * (1 - scale) + 0.2 * scale


def test_whole_sampling_loops_match_diffusers(diffusers) -> None:
    ours = _schedule("linear")
    shape = (2, 3, 4, 4)
    # DDIM, deterministic (η = 0) and stochastic (η = 1: every draw from one shared generator)
    for eta in (0.0, 1.0):
        ref = _reference(diffusers.DDIMScheduler, ours)
        ref.set_timesteps(20)
        g = torch.Generator().manual_seed(7)
        x = torch.randn(shape, generator=g, dtype=F64)
        for t in ref.timesteps:
            x = ref.step(_toy_model(x, t.expand(2), None), t, x, eta=eta, generator=g).prev_sample
        got = ddim_sample(
            _toy_model, ours, shape, 20, generator=torch.Generator().manual_seed(7), eta=eta, dtype=F64
        )
        torch.testing.assert_close(got, x, atol=TOL, rtol=0)
    # DDPM on a strided chain, noise drawn in diffusers' pipeline order
    ref = _reference(diffusers.DDPMScheduler, ours)
    ref.set_timesteps(25)
    g = torch.Generator().manual_seed(8)
    x = torch.randn(shape, generator=g, dtype=F64)
    for t in ref.timesteps:
        x = ref.step(_toy_model(x, t.expand(2), None), t, x, generator=g).prev_sample
    got = ddpm_sample(_toy_model, ours, shape, 25, generator=torch.Generator().manual_seed(8), dtype=F64)
    torch.testing.assert_close(got, x, atol=TOL, rtol=0)


# ---- samplers: oracle recovery, the schedule they walk, guidance -------------------------------------


def _oracle(schedule: NoiseSchedule, x0: Tensor):
    """A model that knows x_0: it returns the true noise ε = (x_t − √ᾱ_t x_0)/√(1 − ᾱ_t)."""

    def model(x_t: Tensor, t: Tensor, cond: Tensor | None) -> Tensor:
        a = schedule.alpha_bar(t, x_t).reshape(-1, 1, 1, 1)
        target = x0.repeat(x_t.shape[0] // x0.shape[0], 1, 1, 1)
        return (x_t - a.sqrt() * target) / (1 - a).sqrt()

    return model


@pytest.mark.parametrize("name", ["linear", "squaredcos_cap_v2"])
def test_samplers_with_the_true_noise_recover_x0(name: str) -> None:
    s = _schedule(name)
    x0 = _rand(2, 3, 4, 4, seed=9).clamp(-1, 1)
    oracle, labels = _oracle(s, x0), torch.tensor([1, 2])
    null = torch.tensor([0, 0])
    for eta in (0.0, 1.0):
        for spacing in ("leading", "trailing"):
            opts = {"cond": labels, "null_cond": null, "eta": eta, "spacing": spacing, "dtype": F64}
            got = ddim_sample(oracle, s, x0.shape, 10, 3.0, torch.Generator().manual_seed(0), **opts)
            torch.testing.assert_close(got, x0, atol=1e-6, rtol=0)
    got = ddpm_sample(oracle, s, x0.shape, 50, generator=torch.Generator().manual_seed(1), dtype=F64)
    torch.testing.assert_close(got, x0, atol=1e-6, rtol=0)


def test_ddim_steps_to_the_next_timestep_of_its_schedule() -> None:
    s = _schedule()
    seen: list[tuple[int, int]] = []

    def record(step: SamplerStep) -> None:
        seen.append((step.t, step.t_prev))

    ddim_sample(_toy_model, s, (1, 1, 2, 2), 7, spacing="trailing", callback=record)
    ts = s.timesteps(7, "trailing").tolist()
    assert seen == list(zip(ts, [*ts[1:], -1]))
    seen.clear()
    ddim_sample(_toy_model, s, (1, 1, 2, 2), None, timesteps=[999, 600, 250], callback=record)
    assert seen == [(999, 600), (600, 250), (250, -1)]


def test_ddim_with_eta_zero_is_deterministic_given_x_T() -> None:
    s = _schedule()
    x_T = _rand(2, 1, 4, 4, seed=11).float()
    a = ddim_sample(_toy_model, s, x_T.shape, 8, x_T=x_T, generator=torch.Generator().manual_seed(1))
    b = ddim_sample(_toy_model, s, x_T.shape, 8, x_T=x_T, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)


def test_classifier_free_guidance_endpoints_and_formula() -> None:
    uncond, cond = _rand(2, 3, seed=1), _rand(2, 3, seed=2)
    assert torch.equal(classifier_free_guidance(uncond, cond, 0.0), uncond)
    torch.testing.assert_close(classifier_free_guidance(uncond, cond, 1.0), cond, atol=1e-15, rtol=0)
    torch.testing.assert_close(classifier_free_guidance(uncond, cond, 4.0), uncond + 4 * (cond - uncond))


def test_guided_prediction_batches_both_branches_in_one_call() -> None:
    calls: list[tuple[int, list[int]]] = []

    def model(x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        calls.append((x.shape[0], cond.tolist()))
        return x * (1 + cond.to(x.dtype)).reshape(-1, 1)  # depends on the label

    x, labels, null = _rand(3, 2, seed=3), torch.tensor([1, 2, 3]), torch.tensor([0, 0, 0])
    w = 2.5
    got = guided_prediction(model, x, 500, labels, null, w)
    assert calls == [(6, [0, 0, 0, 1, 2, 3])]  # one forward, the null half first
    uncond, cond = model(x, torch.zeros(3), null), model(x, torch.zeros(3), labels)
    torch.testing.assert_close(got, uncond + w * (cond - uncond))
    calls.clear()
    torch.testing.assert_close(guided_prediction(model, x, 500, labels, null, 1.0), cond)
    torch.testing.assert_close(guided_prediction(model, x, 500, labels, null, 0.0), uncond)
    assert [n for n, _ in calls] == [3, 3]  # the endpoints need one branch only


def test_diffusion_loss_is_the_simple_loss() -> None:
    for prediction_type in ("epsilon", "v_prediction", "sample"):
        s = _schedule(prediction_type=prediction_type)
        x0, noise, t = _rand(3, 2, 4, 4, seed=1), _rand(3, 2, 4, 4, seed=2), torch.tensor([0, 400, 999])
        loss = diffusion_loss(_toy_model, s, x0, None, t=t, noise=noise)
        pred = _toy_model(s.add_noise(x0, noise, t), t, None)
        target = {"epsilon": noise, "sample": x0, "v_prediction": s.velocity(x0, noise, t)}[prediction_type]
        torch.testing.assert_close(loss, ((pred - target) ** 2).mean())
        # the three parameterizations give back x_0 and ε from the true target
        x_t = s.add_noise(x0, noise, t)
        x0_hat, eps_hat = s.split_prediction(target, x_t, t)
        torch.testing.assert_close(x0_hat, x0)
        torch.testing.assert_close(eps_hat, noise)


# ---- the UNet ----------------------------------------------------------------------------------------

TINY = {"channels": 16, "channel_mult": (1, 2), "num_res_blocks": 1, "norm_groups": 8, "num_heads": 2}


def _unet(**overrides) -> UNet:
    torch.manual_seed(0)
    return UNet(**{**TINY, "in_channels": 3, "num_classes": 4, **overrides}).eval()


def test_unet_shapes_conditioning_and_null_token() -> None:
    model = _unet()
    x, t, labels = torch.randn(3, 3, 8, 8), torch.tensor([0, 500, 999]), torch.tensor([0, 1, 3])
    with torch.no_grad():
        out = model(x, t, labels)
        assert out.shape == x.shape
        assert not torch.allclose(out, model(x, t, torch.tensor([2, 2, 2])), atol=1e-5)  # the label matters
        assert not torch.allclose(out, model(x, torch.tensor([1, 1, 1]), labels), atol=1e-5)  # so does t
        null = model.null_condition(labels)
        assert null.tolist() == [4, 4, 4]
        torch.testing.assert_close(model(x, t, None), model(x, t, null))  # None is the null token
        # a guided sampler runs on it, the null branch batched beside the conditional one
        sample = ddim_sample(
            model, _schedule(), (3, 3, 8, 8), 2, 3.0, torch.Generator().manual_seed(0), cond=labels
        )
        assert sample.shape == (3, 3, 8, 8) and torch.isfinite(sample).all()
    wide = _unet(channel_mult=(1, 2, 2), attention_levels=(1, 2), out_channels=6)
    with torch.no_grad():
        assert wide(torch.randn(2, 3, 16, 16), 10, torch.tensor([0, 1])).shape == (2, 6, 16, 16)


def test_unet_fused_and_explicit_attention_agree() -> None:
    model = _unet()
    x, t, labels = torch.randn(2, 3, 8, 8), torch.tensor([3, 700]), torch.tensor([0, 4])
    with torch.no_grad():
        fused = model(x, t, labels)
        for m in model.modules():
            if hasattr(m, "fused"):
                m.fused = False
        torch.testing.assert_close(model(x, t, labels), fused, atol=1e-5, rtol=1e-5)


def test_unet_with_context_tokens() -> None:
    model = _unet(num_classes=0, context_dim=12)
    x, ctx = torch.randn(2, 3, 8, 8), torch.randn(2, 5, 12)
    with torch.no_grad():
        out = model(x, torch.tensor([1, 2]), ctx)
        assert out.shape == x.shape
        assert not torch.allclose(out, model(x, torch.tensor([1, 2]), ctx.flip(0)), atol=1e-5)
    with pytest.raises(ValueError, match="context"):
        model(x, 1, torch.randn(2, 5, 7))
    with pytest.raises(UserInputError, match="null_cond"):
        model.null_condition(ctx)


def test_unet_gradients_reach_every_parameter() -> None:
    model = _unet().train()
    x0, labels = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    labels = model.drop_labels(labels, 0.5, torch.Generator().manual_seed(0))
    s = _schedule()
    loss = diffusion_loss(model, s, x0, labels, generator=torch.Generator().manual_seed(1))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_drop_labels() -> None:
    labels = torch.arange(1000) % 10
    g = torch.Generator().manual_seed(0)
    assert torch.equal(drop_labels(labels, 0.0, 10, g), labels)
    assert (drop_labels(labels, 1.0, 10, g) == 10).all()
    dropped = drop_labels(labels, 0.2, 10, g)
    assert 0.15 < (dropped == 10).float().mean() < 0.25
    assert torch.equal(dropped[dropped != 10], labels[dropped != 10])


def test_timestep_embedding() -> None:
    t = torch.tensor([0, 1, 999])
    emb = timestep_embedding(t, 8)
    assert emb.shape == (3, 8)
    assert torch.equal(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))  # cos 0 = 1, sin 0 = 0
    freqs = torch.exp(-math.log(10000) * torch.arange(4) / 4)
    torch.testing.assert_close(emb[2], torch.cat([torch.cos(999 * freqs), torch.sin(999 * freqs)]))


# ---- the KL autoencoder ---------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [2, 4])
def test_autoencoder_shapes_and_loss(factor: int) -> None:
    torch.manual_seed(0)
    ae = KLAutoencoder(channels=8, factor=factor, latent_channels=3, norm_groups=4)
    x = torch.randn(2, 3, 16, 16)
    posterior = ae.encode(x)
    assert posterior.mean.shape == (2, 3, 16 // factor, 16 // factor)
    recon, _ = ae(x, torch.Generator().manual_seed(0))
    assert recon.shape == x.shape
    loss, rec, kl = ae.loss(x, kl_weight=1e-3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loss, rec + 1e-3 * kl)
    loss.backward()
    assert all(p.grad is not None for p in ae.parameters())


def test_kl_matches_the_closed_form_and_torch_distributions() -> None:
    moments = _rand(3, 8, 2, 2, seed=4)
    q = DiagonalGaussian(moments)
    mean, logvar = moments.chunk(2, dim=1)
    normal = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    standard = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    want = torch.distributions.kl_divergence(normal, standard).sum(dim=(1, 2, 3))
    torch.testing.assert_close(q.kl(), want, atol=1e-12, rtol=1e-12)
    assert q.kl().shape == (3,) and (q.kl() >= 0).all()
    assert torch.equal(DiagonalGaussian(torch.zeros(1, 8, 2, 2)).kl(), torch.zeros(1))  # N(0, I) itself
    # the reparameterized draw is μ + σ ε with ε from the generator
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(5), dtype=F64)
    torch.testing.assert_close(q.sample(torch.Generator().manual_seed(5)), mean + q.std * eps)


def test_latent_scale_factor_gives_unit_variance() -> None:
    z = 3.5 * torch.randn(64, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    scale = latent_scale_factor(z)
    assert abs((z * scale).std().item() - 1.0) < 1e-5
    with pytest.raises(ValueError):
        latent_scale_factor(torch.zeros(4, 4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_sampling_on_a_gpu_with_a_cpu_generator_matches_the_cpu() -> None:
    """Noise is drawn where the generator lives, so a seed gives the same samples on any device."""
    model = _unet()
    labels, s = torch.tensor([0, 3]), _schedule()
    shape, opts = (2, 3, 8, 8), {"cond": labels, "eta": 1.0}
    with torch.no_grad():
        cpu = ddim_sample(model, s, shape, 4, 2.0, torch.Generator().manual_seed(0), **opts)
        opts["cond"] = labels.cuda()
        gpu = ddim_sample(model.cuda(), s, shape, 4, 2.0, torch.Generator().manual_seed(0), **opts)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-3, rtol=1e-3)


# ---- bad input: a clear message, a UserInputError (exit 2), a ValueError ----------------------------


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: check_sampling(0, 1.0, 1000), "steps=0"),
        (lambda: check_sampling(1001, 1.0, 1000), "between 1 and 1000"),
        (lambda: check_sampling(2.5, 1.0, 1000), "integer"),
        (lambda: check_sampling(10, -0.5, 1000), "guidance=-0.5"),
        (lambda: check_sampling(10, float("nan"), 1000), "finite"),
        (lambda: check_sampling(10, 1.0, 1000, eta=1.5), "eta=1.5"),
        (lambda: NoiseSchedule(beta_schedule="cosine"), "beta_schedule='cosine'.*linear, scaled_linear"),  # type: ignore[arg-type]
        (lambda: NoiseSchedule(prediction_type="noise"), "prediction_type='noise'"),  # type: ignore[arg-type]
        (lambda: NoiseSchedule(num_train_timesteps=0), "num_train_timesteps"),
        (lambda: NoiseSchedule(beta_start=0.1, beta_end=0.01), "beta_start"),
        (lambda: NoiseSchedule(100).timesteps(101), "between 1 and 100"),
        (lambda: NoiseSchedule(100).timesteps(10, "even"), "spacing='even'.*leading, trailing, linspace"),  # type: ignore[arg-type]
        (lambda: NoiseSchedule(100).timesteps(10, "leading", steps_offset=10), "steps_offset"),
        (lambda: ddim_sample(_toy_model, NoiseSchedule(100), (1, 1, 2, 2), 0), "steps=0"),
        (lambda: ddim_sample(_toy_model, NoiseSchedule(100), (1, 1, 2, 2), 101), "steps=101"),
        (lambda: ddpm_sample(_toy_model, NoiseSchedule(100), (1, 1, 2, 2), 5, -1.0), "guidance=-1.0"),
        (
            lambda: ddim_sample(_toy_model, NoiseSchedule(100), (1, 1, 2, 2), None, timesteps=[5, 50]),
            "decreasing",
        ),
        (lambda: guided_prediction(_toy_model, torch.zeros(1, 1), 0, None, None, 2.0), "guidance=2.0"),
        (lambda: classifier_free_guidance(torch.zeros(1), torch.zeros(1), -2.0), "guidance=-2.0"),
        (lambda: schedule_betas("sigmoid"), "sigmoid"),
        (lambda: drop_labels(torch.zeros(2, dtype=torch.long), 1.5, 3), "p=1.5"),
        (lambda: UNet(channels=12, norm_groups=8), "norm_groups=8"),
        (lambda: UNet(channel_mult=(1, 2), attention_levels=(2,)), "attention_levels"),
        (lambda: KLAutoencoder(factor=3), "factor=3"),
    ],
)
def test_bad_input_raises_a_user_input_error(call, says: str) -> None:
    with pytest.raises(DiffusionInputError, match=says) as info:
        call()
    assert isinstance(info.value, UserInputError) and isinstance(info.value, ValueError)
