"""mdl-noisy-weights: the exact expected squared error, the cost of a noisy weight, the run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from landmarks.cli import main
from landmarks.papers import mdl_noisy_weights as nw


def _net(inputs: int = 6, hidden: int = 3, std: float = 0.3, seed: int = 0) -> nw.NoisyWeightNet:
    g = torch.Generator().manual_seed(seed)
    net = nw.NoisyWeightNet(inputs, hidden, std, g)
    with torch.no_grad():  # larger, uneven means and noise than at initialization
        net.mu_in.mul_(4)
        net.mu_out.copy_(torch.randn(hidden + 1, generator=g, dtype=torch.float64))
        net.log_s_in.add_(0.5 * torch.randn(net.log_s_in.shape, generator=g, dtype=torch.float64))
    return net


def test_quadrature_is_exact_for_polynomials_and_close_for_the_logistic():
    m = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    v = torch.tensor([0.5, 4.0, 0.01], dtype=torch.float64)
    assert torch.allclose(nw.gaussian_expectation(lambda z: z**2, m, v), m**2 + v)
    z = m + v.sqrt() * torch.randn(
        400_000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    assert torch.allclose(nw.gaussian_expectation(torch.sigmoid, m, v), torch.sigmoid(z).mean(0), atol=2e-3)


def test_output_moments_match_monte_carlo():
    net = _net()
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mean, var = net.output_moments(x)
    with torch.no_grad():
        y = net.sample_outputs(x, 200_000, torch.Generator().manual_seed(2))
    assert torch.allclose(mean, y.mean(0), rtol=0.01, atol=0.01)
    assert torch.allclose(var, y.var(0), rtol=0.02)


def test_expected_error_derivatives_are_exact():
    """Autograd through the exact expression gives the paper's analytic derivatives: check every
    one against central finite differences."""
    net = _net(inputs=3, hidden=2)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    d = torch.randn(4, dtype=torch.float64)
    net.expected_squared_error(x, d).sum().backward()
    eps = 1e-6
    with torch.no_grad():
        for p in net.parameters():
            flat, grad = p.view(-1), p.grad.view(-1)
            for k in range(flat.numel()):
                flat[k] += eps
                up = float(net.expected_squared_error(x, d).sum())
                flat[k] -= 2 * eps
                down = float(net.expected_squared_error(x, d).sum())
                flat[k] += eps
                assert (up - down) / (2 * eps) == pytest.approx(float(grad[k]), rel=1e-5, abs=1e-8)


def test_kl_to_one_component_prior_is_the_closed_form():
    prior = nw.MixturePrior(1)
    with torch.no_grad():
        prior.means.fill_(0.2)
        prior.log_stds.fill_(math.log(0.7))
    mu = torch.tensor([0.0, 1.5, -0.3], dtype=torch.float64)
    s = torch.tensor([0.1, 0.7, 2.0], dtype=torch.float64)
    closed = (torch.log(0.7 / s) + (s**2 + (mu - 0.2) ** 2) / (2 * 0.49) - 0.5).sum() / math.log(2)
    with torch.no_grad():
        assert float(nw.kl_to_mixture_bits(mu, s, prior)) == pytest.approx(float(closed), rel=1e-9)
    same = nw.kl_to_mixture_bits(
        torch.tensor([0.2], dtype=torch.float64), torch.tensor([0.7], dtype=torch.float64), prior
    )
    assert abs(same.item()) < 1e-9  # the prior's parameters carry grad: read the value alone


def test_kl_to_a_mixture_matches_monte_carlo():
    prior = nw.MixturePrior(3)
    mu = torch.tensor([0.05, 0.9, -0.4], dtype=torch.float64)
    s = torch.tensor([0.02, 0.3, 0.5], dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    w = mu + s * torch.randn(400_000, 3, generator=g, dtype=torch.float64)
    with torch.no_grad():
        log_q = -0.5 * ((w - mu) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)
        mc = float((log_q - prior.log_density(w)).mean(0).sum() / math.log(2))
        assert float(nw.kl_to_mixture_bits(mu, s, prior)) == pytest.approx(mc, abs=0.02)


def test_noiseless_net_is_its_mean_net():
    net = _net(std=1e-9)
    with torch.no_grad():
        net.log_s_in.fill_(-40)
        net.log_s_out.fill_(-40)
        x = torch.randn(7, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
        mean, var = net.output_moments(x)
        assert torch.allclose(mean, net(x)) and float(var.max()) < 1e-12
        assert torch.allclose(net.sample_outputs(x, 3, torch.Generator().manual_seed(0))[0], net(x))


def test_teacher_task_is_seeded_and_sparse():
    cfg = nw.Config(inputs=20, relevant=6, teacher_hidden=3, train=10, test=5)
    a = nw.sparse_teacher_task(cfg, np.random.default_rng(0))
    b = nw.sparse_teacher_task(cfg, np.random.default_rng(0))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["x_train"].shape == (10, 20) and a["y_test"].shape == (5,) and len(a["relevant"]) == 6


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("mdl-noisy-weights", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "mdl-noisy-weights" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == len(nw.CARD.claims)
    assert (tmp_path / "mdl-noisy-weights" / "noisy_weights.png").exists()
    m = saved["metrics"]
    assert m["description_length_saved_bits"] == pytest.approx(
        m["data_bits_without_a_net"] - m["data_bits"] - m["weight_bits"]
    )
    share = saved["claims"][3]["measured"]  # a number only when the weights pay for themselves
    assert (share is not None and share == share) == (saved["claims"][2]["verdict"] == "reproduced")


def test_an_untrained_net_does_not_pay_for_its_weights():
    """Claim 3 can fail: at its initial noise the net costs bits and saves none in the misfit."""
    cfg = nw.Config()
    net = nw.NoisyWeightNet(cfg.inputs, cfg.hidden, cfg.init_std, torch.Generator().manual_seed(0))
    prior = nw.MixturePrior(cfg.components)
    x = torch.randn(cfg.train, cfg.inputs, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.randn(cfg.train, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        mu, s = net.weights()
        weights = float(nw.kl_to_mixture_bits(mu, s, prior, cfg.kl_points))
        misfit = float(nw.data_bits(net.expected_squared_error(x, y, cfg.quadrature)))
    assert float(nw.data_bits((y - y.mean()) ** 2)) - misfit - weights < 0
    assert 0.05 < weights / (mu.numel() * 32) < 0.1  # while its share of 32 bits is already below 0.1


def test_bad_settings_exit_2(capsys):
    assert main(["run", "mdl-noisy-weights", "--quick", "--set", "relevant=500"]) == 2
    assert "cannot exceed inputs" in capsys.readouterr().err
    assert main(["run", "mdl-noisy-weights", "--quick", "--set", "init_std=0"]) == 2


def test_kl_grid_resolves_a_narrow_spike_under_a_broad_weight():
    """A weight of std 0.5 over the prior's 0.05-wide spike: the grid agrees with a 20× finer one."""
    prior = nw.MixturePrior(3)
    mu, s = torch.tensor([-0.4], dtype=torch.float64), torch.tensor([0.5], dtype=torch.float64)
    with torch.no_grad():
        coarse = float(nw.kl_to_mixture_bits(mu, s, prior))
        fine = float(nw.kl_to_mixture_bits(mu, s, prior, points=4001))
    assert coarse == pytest.approx(fine, abs=1e-4)
