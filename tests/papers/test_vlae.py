"""vlae: each decoder sees exactly the pixels it should (type-A masked convolution, MADE), the
KL is the closed form, importance-sampled NLL converges to the exact likelihood, and a quick run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.papers import vlae


def _dependence(decoder, side: int) -> torch.Tensor:
    """(pixels, pixels): whether output pixel i's logit depends on input pixel j (by the Jacobian)."""
    z = torch.randn(1, 3)
    x = torch.rand(1, 1, side, side).double()
    decoder = decoder.double()
    jac = torch.autograd.functional.jacobian(lambda t: decoder.logits(t, z.double()).flatten(), x)
    return jac.reshape(side * side, side * side) != 0


def test_local_pixelcnn_sees_the_four_pixels_above_and_left():
    torch.manual_seed(0)
    side = 5
    seen = _dependence(vlae.LocalPixelCNNDecoder(3, side, 4), side)
    for i in range(side):
        for j in range(side):
            expected = {(i - 1, j - 1), (i - 1, j), (i - 1, j + 1), (i, j - 1)}
            expected = {(a, b) for a, b in expected if 0 <= a < side and 0 <= b < side}
            got = {divmod(k, side) for k in seen[i * side + j].nonzero().flatten().tolist()}
            assert got == expected


def test_full_autoregressive_decoder_sees_every_earlier_pixel_and_no_later_one():
    torch.manual_seed(0)
    side = 4
    earlier = torch.ones(16, 16, dtype=torch.bool).tril(-1)
    seen = _dependence(vlae.FullARDecoder(3, side, 32), side)
    assert not (seen & ~earlier).any()  # never the pixel itself or a later one
    m1, m2, m3 = (m.double() for m in vlae.made_masks(16, 32))
    assert torch.equal((m3 @ m2 @ m1) > 0, earlier)  # and a path from every earlier one


def test_masked_conv_type_b_sees_the_centre():
    conv = vlae.MaskedConv2d("B", 1, 1, 3)
    assert conv.mask[0, 0].tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError):
        vlae.MaskedConv2d("C", 1, 1, 3)


def test_kl_is_the_closed_form():
    torch.manual_seed(0)
    model = vlae.make_vae("factorized", vlae.PRESETS["quick"], 8)
    x = (torch.rand(5, 1, 8, 8) < 0.5).float()
    _, kl = model(x)
    mean, log_var = model.posterior(x)
    q = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    assert torch.allclose(kl, torch.distributions.kl_divergence(q, p).sum(1), atol=1e-5)


def test_importance_sampled_nll_approaches_the_exact_likelihood():
    torch.manual_seed(0)
    cfg = vlae.Config(size=4, latent=1, hidden=8)
    model = vlae.make_vae("factorized", cfg, 4).double()
    x = (torch.rand(3, 1, 4, 4) < 0.5).double()
    grid = torch.linspace(-10, 10, 4001, dtype=torch.double)
    with torch.no_grad():
        log_lik = torch.stack([model.log_likelihood(x, z.expand(3, 1)) for z in grid[:, None]])  # (G, 3)
        log_prior = -0.5 * (grid.square() + math.log(2 * math.pi))
        exact = -(torch.logsumexp(log_lik + log_prior[:, None], 0) + math.log(grid[1] - grid[0]))
        estimate = model.nll(x, 4000, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(1)
        one_sample = torch.stack([model.nll(x, 1, g) for _ in range(2000)]).mean(0)  # ≈ −ELBO
    assert torch.allclose(estimate, exact, atol=0.02)
    assert (one_sample > exact).all()  # the ELBO is a lower bound on log p(x): −ELBO lies above


def test_autoregressive_sampling_fills_every_pixel_deterministically():
    torch.manual_seed(0)
    decoder = vlae.LocalPixelCNNDecoder(3, 6, 4)
    z = torch.randn(2, 3)
    a = decoder.sample(z, torch.Generator().manual_seed(0))
    b = decoder.sample(z, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}


def test_quick_run_writes_result_and_figures(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("vlae", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "vlae" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == 5
    for figure in ("reconstructions.png", "kl.png"):
        assert (tmp_path / "vlae" / figure).exists()


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "vlae", "--quick", "--set", "latent=0"]) == 2
    assert "latent must be >= 1" in capsys.readouterr().err


def test_mnist_files_with_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from test_data import write_mnist

    write_mnist(tmp_path / "mnist", n_train=80, n_test=16)
    out = tmp_path / "out"
    assert main(["run", "vlae", "--quick", "--data-dir", str(tmp_path / "mnist"), "--out", str(out)]) == 0
    assert "28 × 28" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["run", "vlae", "--quick", "--data-dir", str(tmp_path / "empty"), "--out", str(out)]) == 2
