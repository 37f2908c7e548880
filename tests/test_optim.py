"""``landmarks.engine.optim``: AdamW on the fused kernel, the same updates as torch's default."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landmarks.engine import optim


def _train(make_optimizer, steps: int = 5) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 3))
    optimizer = make_optimizer(model.parameters())
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(16, 6, generator=g), torch.randn(16, 3, generator=g)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return model, optimizer


def test_fused_adamw_takes_the_steps_of_torch_s_default():
    kwargs = {"lr": 1e-2, "betas": (0.9, 0.95), "weight_decay": 0.1}
    fused, opt = _train(lambda p: optim.adamw(p, device="cpu", **kwargs))
    assert opt.defaults["fused"] is optim.fused_available("cpu")
    plain, _ = _train(lambda p: torch.optim.AdamW(p, **kwargs))
    for a, b in zip(fused.parameters(), plain.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.skipif(not optim.fused_available("cpu"), reason="this torch has no fused CPU kernel")
def test_fused_adam_takes_the_steps_of_torch_s_default():
    """relation-networks builds plain Adam on the fused kernel where ``fused_available`` says so."""
    fused, _ = _train(lambda p: torch.optim.Adam(p, lr=1e-2, fused=True))
    plain, _ = _train(lambda p: torch.optim.Adam(p, lr=1e-2))
    for a, b in zip(fused.parameters(), plain.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_fused_state_resumes():
    _, opt = _train(lambda p: optim.adamw(p, device="cpu", lr=1e-2))
    _, opt2 = _train(lambda p: optim.adamw(p, device="cpu", lr=1e-2), steps=1)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_an_explicit_choice_is_kept():
    params = [nn.Parameter(torch.zeros(3))]
    assert not optim.adamw(params, device="cpu", fused=False).defaults["fused"]


@pytest.mark.parametrize(
    ("version", "cpu", "cuda"),
    [
        ("2.3.1+cpu", False, True),
        ("2.4.0a0+git", True, True),
        ("2.14.1", True, True),
        ("1.13.1", False, False),
    ],
)
def test_fused_kernels_by_torch_version(monkeypatch, version, cpu, cuda):
    monkeypatch.setattr(torch, "__version__", version)
    assert optim.fused_available("cpu") is cpu
    assert optim.fused_available(torch.device("cuda", 0)) is cuda
    assert not optim.fused_available("meta")
