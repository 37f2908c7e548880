"""Imagine Flash: the few-step sampler against the shared DDIM, noise correction, the backward
trajectory (no real image enters it), the shifted timestep, the loss's gradients, bad input (exit 2
before training) and a quick run."""

from __future__ import annotations

import json

import pytest
import torch

from landmarks.cli import main
from landmarks.nn.diffusion import ddim_sample
from landmarks.papers import imagine_flash as flash
from landmarks.papers import latent_diffusion as ldm

QUICK = flash.PRESETS["quick"]


def _model(seed: int = 0, channels: int = 4):
    torch.manual_seed(seed)
    return ldm.denoiser(channels, QUICK.teacher_config(), 4).eval()


def test_student_timesteps_start_from_pure_noise():
    schedule = ldm.ldm_schedule(200)
    assert flash.student_timesteps(schedule, 3) == [199, 132, 66]
    assert flash.student_timesteps(schedule, 1) == [199]
    assert [flash.shifted_timestep(t, 0.75) for t in (199, 132, 66)] == [149, 99, 50]
    assert all(flash.shifted_timestep(t, g) <= t for t in range(200) for g in (0.25, 0.75, 1.0))


@pytest.mark.parametrize("guidance", [1.0, 3.0])
def test_few_step_sampler_is_ddim_without_noise_correction(guidance):
    model = _model()
    schedule = ldm.ldm_schedule(QUICK.timesteps)
    ts = flash.student_timesteps(schedule, 3)
    x_T = torch.randn(6, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(6) % 4
    ours = flash.few_step_sample(model, schedule, x_T, labels, ts, guidance=guidance)
    shared = ddim_sample(model, schedule, x_T.shape, None, guidance, cond=labels, timesteps=ts, x_T=x_T)
    assert torch.allclose(ours, shared, atol=1e-6)


def test_noise_correction_uses_x_T_as_the_first_step_s_noise():
    model = _model()
    schedule = ldm.ldm_schedule(QUICK.timesteps)
    ts = flash.student_timesteps(schedule, 3)
    x_T = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(4)
    with torch.no_grad():
        out = model(x_T, torch.full((4,), ts[0]), labels)
    x0, _ = schedule.split_prediction(out, x_T, ts[0])
    a = schedule.alpha_bar(ts[1])
    expected = a.sqrt() * x0 + (1 - a).sqrt() * x_T
    first = flash.few_step_sample(model, schedule, x_T, labels, ts, noise_correction=True, until=1)
    plain = flash.few_step_sample(model, schedule, x_T, labels, ts, noise_correction=False, until=1)
    assert torch.allclose(first, expected, atol=1e-6) and not torch.allclose(first, plain)
    # only the first step changes: the corrected sampler continues as plain DDIM from ts[1]
    whole = flash.few_step_sample(model, schedule, x_T, labels, ts, noise_correction=True)
    rest = flash.few_step_sample(model, schedule, first, labels, ts[1:], noise_correction=False)
    assert torch.equal(whole, rest)


def test_backward_trajectory_starts_from_noise_and_never_sees_data():
    model = _model()
    schedule = ldm.ldm_schedule(QUICK.timesteps)
    ts = flash.student_timesteps(schedule, 3)
    x_T = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(4)
    assert torch.equal(flash.rollout(model, schedule, x_T, labels, ts, 0, True), x_T)
    x1 = flash.rollout(model, schedule, x_T, labels, ts, 1, True)
    assert torch.equal(
        x1, flash.few_step_sample(model, schedule, x_T, labels, ts, noise_correction=True, until=1)
    )
    model.train()
    flash.rollout(model, schedule, x_T, labels, ts, 2, True)
    assert model.training  # the mode is restored


def test_shifted_reconstruction_loss_trains_the_student_only():
    student, teacher = _model(0), _model(1)
    for p in teacher.parameters():
        p.requires_grad_(False)
    schedule = ldm.ldm_schedule(QUICK.timesteps)
    g = torch.Generator().manual_seed(4)
    x_t, noise = torch.randn(4, 4, 8, 8, generator=g), torch.randn(4, 4, 8, 8, generator=g)
    labels = torch.arange(4)
    loss = flash.distillation_loss(
        student, teacher, schedule, x_t, 13, labels, noise, gamma=0.75, guidance=3.0
    )
    loss.backward()
    assert loss.item() > 0
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    # the target is the guided teacher's x̂_0 at τ = round(γ t) from the student's re-noised x̂_0
    with torch.no_grad():
        x0_s, _ = schedule.split_prediction(student(x_t, torch.full((4,), 13), labels), x_t, 13)
        tau = flash.shifted_timestep(13, 0.75)
        x_tau = schedule.add_noise(x0_s, noise, tau)
        null = teacher.null_condition(labels)
        u, c = teacher(torch.cat([x_tau, x_tau]), torch.full((8,), tau), torch.cat([null, labels])).chunk(2)
        target, _ = schedule.split_prediction(u + 3.0 * (c - u), x_tau, tau)
    assert loss.item() == pytest.approx(float(((x0_s - target) ** 2).mean()), rel=1e-5)


def test_within_class_spread_sees_a_collapse_to_one_image_per_class():
    g = torch.Generator().manual_seed(5)
    labels = torch.arange(40) % 4
    varied = torch.rand(40, 3, 16, 16, generator=g)
    collapsed = varied[:4][labels]  # one image per class, repeated
    assert flash.within_class_spread(collapsed, labels, 4) == 0.0
    uniform = (1 / 12) ** 0.5  # the standard deviation of U(0, 1)
    assert flash.within_class_spread(varied, labels, 4) == pytest.approx(uniform, rel=0.05)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("gamma=0", "gamma must be in (0, 1]"),
        ("gamma=1.5", "gamma must be in (0, 1]"),
        ("student_steps=0", "student_steps=0: a sampler takes between 1 and 20 steps"),
        ("student_steps=500", "student_steps=500: a sampler takes between 1 and 20 steps"),
        ("guidance=-1", "guidance=-1.0: the classifier-free guidance scale must be >= 0"),
        ("unet_channels=12", "unet_channels must be a positive multiple of 8"),
        ("samples=2", "samples must be >= 4"),
    ],
)
def test_bad_settings_exit_2_before_training(setting, message, capsys):
    assert main(["run", "imagine-flash", "--quick", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_quick_run_writes_result(tmp_path):
    from landmarks.runner import run_paper

    result = run_paper("imagine-flash", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "imagine-flash" / "result.json").read_text())
    assert [c["statement"] for c in saved["claims"]] == [c.statement for c in flash.CARD.claims]
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    rows = saved["metrics"]["samples"]
    assert {"teacher, 4 steps", "teacher, 3 steps", "backward student", "forward student"} <= set(rows)
    assert all(
        0 <= r["accuracy"] <= 1 and r["fid"] >= 0 and r["within_class_spread"] >= 0 for r in rows.values()
    )
    assert saved["metrics"]["student_timesteps"] == [19, 12, 6]
    # the accuracy gaps (claims 2 and 4) are numbers only when the student kept its diversity
    diverse = saved["claims"][0]["verdict"] == "reproduced"
    for gated in (saved["claims"][1], saved["claims"][3]):
        assert (gated["measured"] is not None and gated["measured"] == gated["measured"]) == diverse
    assert set(saved["metrics"]["accuracy_gaps_points"]) == {
        "backward - teacher 3 steps",
        "backward - forward",
    }
    curves = saved["metrics"]["curves"]
    assert curves["backward"]["accuracy"][0] == curves["forward"]["accuracy"][0]  # both start as the teacher
    for plot in ("samples.png", "distillation.png"):
        assert (tmp_path / "imagine-flash" / plot).stat().st_size > 0
