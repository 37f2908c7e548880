"""mdl-principle: the criteria on polynomials and Markov chains, the sampler, the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.polynomial import legendre

from landmarks.cli import main
from landmarks.information.codes import context_counts, gaussian_ml_code_length
from landmarks.papers import mdl_principle as mdl


def test_ml_always_prefers_the_larger_degree_and_mdl_does_not():
    rng = np.random.default_rng(0)
    x, y, _ = mdl.sample_polynomial(rng, 40, 3, 0.05)
    bits = mdl.polynomial_criteria(x, y, 8)
    assert np.all(np.diff(bits["ML"]) <= 1e-9)  # nested least squares: the residual never grows
    for name in ("AIC", "BIC", "two-part", "Bayes mixture"):
        assert int(np.argmin(bits[name])) == 3, name


def test_likelihood_criteria_do_not_depend_on_the_basis():
    rng = np.random.default_rng(1)
    x, y, _ = mdl.sample_polynomial(rng, 30, 2, 0.3)
    for d in range(6):
        monomial = gaussian_ml_code_length(y, np.vander(x, d + 1, increasing=True))
        assert abs(monomial - gaussian_ml_code_length(y, legendre.legvander(x, d))) < 1e-8


def test_sampled_polynomials_have_an_identifiable_top_coefficient():
    rng = np.random.default_rng(2)
    for _ in range(50):
        _, _, c = mdl.sample_polynomial(rng, 10, 3, 0.3)
        assert np.all((np.abs(c) >= 0.5) & (np.abs(c) <= 1.5))


def test_markov_sampler_follows_its_tables():
    rng = np.random.default_rng(3)
    seq, tables = mdl.sample_markov_chains(rng, 2, 20_000, 2, 3, 1.0)
    assert seq.shape == (2, 20_000) and tables.shape == (2, 9, 3)
    for t in range(2):
        counts = context_counts(seq[t], 2, 3)
        freq = counts / counts.sum(1, keepdims=True)
        assert np.abs(freq - tables[t]).max() < 0.05
    again, _ = mdl.sample_markov_chains(np.random.default_rng(3), 2, 20_000, 2, 3, 1.0)
    assert np.array_equal(seq, again)


def test_order_zero_chain_is_iid_and_the_codes_say_so():
    seq, _ = mdl.sample_markov_chains(np.random.default_rng(4), 1, 3000, 0, 3, 1.0)
    bits = mdl.markov_criteria(seq[0], 3, 3)
    assert int(np.argmin(bits["NML"])) == 0 and int(np.argmin(bits["Bayes mixture"])) == 0
    assert tuple(bits) == mdl.MARKOV_CRITERIA and int(np.argmin(bits["BIC"])) == 0
    k = np.array([2, 6, 18, 54])  # K^order · (K − 1) free parameters, K = 3
    assert np.allclose(bits["AIC"] - bits["ML"], k / np.log(2))
    assert int(np.argmin(bits["ML"])) > 0


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("mdl-principle", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "mdl-principle" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == len(mdl.CARD.claims)
    for name in ("polynomial", "markov"):
        assert (tmp_path / "mdl-principle" / f"{name}.png").exists()


def test_bad_settings_exit_2(capsys):
    assert main(["run", "mdl-principle", "--quick", "--set", "true_degree=-1"]) == 2
    assert "true_degree must be >= 0" in capsys.readouterr().err
    assert main(["run", "mdl-principle", "--quick", "--set", "points=8"]) == 2
    assert "residual degrees of freedom" in capsys.readouterr().err
    assert main(["run", "mdl-principle", "--quick", "--set", "alphabet=1"]) == 2
