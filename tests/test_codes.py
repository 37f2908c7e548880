"""landmarks.information.codes: each code length against its definition, and order selection."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from landmarks.information.codes import (
    bayes_mixture_code_length,
    context_counts,
    markov_code_length,
    ml_code_length,
    multinomial_complexity,
    nml_code_length,
    two_part_code_length,
)


@pytest.mark.parametrize("n, k", [(1, 2), (5, 2), (6, 3), (4, 4), (7, 3)])
def test_nml_complexity_is_the_brute_force_sum(n, k):
    total = 0.0
    for y in itertools.product(range(k), repeat=n):
        counts = np.bincount(y, minlength=k)
        total += math.prod((c / n) ** c for c in counts if c)
    assert multinomial_complexity(n, k) == pytest.approx(math.log2(total), abs=1e-9)


def test_nml_is_a_probability_distribution():
    n, k = 5, 3
    total = sum(
        2.0 ** -nml_code_length(np.bincount(y, minlength=k)) for y in itertools.product(range(k), repeat=n)
    )
    assert total == pytest.approx(1.0, abs=1e-12)


def test_bayes_mixture_is_the_sequential_kt_estimator():
    x = [0, 2, 2, 1, 2, 0, 2, 2]
    k, bits, counts = 3, 0.0, np.zeros(3)
    for s in x:
        bits -= math.log2((counts[s] + 0.5) / (counts.sum() + k * 0.5))
        counts[s] += 1
    assert bayes_mixture_code_length(np.bincount(x, minlength=k)) == pytest.approx(bits, abs=1e-9)


def test_ml_is_shortest_and_the_codes_add_what_they_should():
    counts = [30, 10, 5]
    ml = ml_code_length(counts)
    assert ml == pytest.approx(-sum(c * math.log2(c / 45) for c in counts))
    assert two_part_code_length(counts) == pytest.approx(ml + math.log2(45))  # (K − 1)/2 = 1
    assert ml < nml_code_length(counts) and ml < bayes_mixture_code_length(counts)
    # Bernoulli: C(n, 2) = √(nπ/2) + 2/3 + O(1/√n) (Szpankowski)
    assert multinomial_complexity(1000, 2) == pytest.approx(
        math.log2(math.sqrt(1000 * math.pi / 2) + 2 / 3), abs=1e-3
    )


def test_context_counts():
    counts = context_counts([0, 1, 1, 0, 1], order=1, alphabet=2)
    assert counts.tolist() == [[0, 2], [1, 1]]
    assert context_counts([0, 1, 1], order=0, alphabet=2).tolist() == [[1, 2]]


def test_refined_codes_recover_a_markov_chains_order_and_ml_overfits():
    rng = np.random.default_rng(0)
    k, order, n = 3, 2, 3000
    table = rng.dirichlet(np.full(k, 0.3), size=k**order)  # a peaked order-2 chain
    x = [0, 1]
    for _ in range(n - 2):
        x.append(int(rng.choice(k, p=table[x[-2] * k + x[-1]])))
    orders = range(5)
    pick = {
        code: min(orders, key=lambda o, c=code: markov_code_length(x, o, k, c))
        for code in ("nml", "bayes", "two-part")
    }
    assert pick == {"nml": 2, "bayes": 2, "two-part": 2}
    assert min(orders, key=lambda o: markov_code_length(x, o, k, "ml")) == 4
    with pytest.raises(ValueError, match="code must be one of"):
        markov_code_length(x, 1, k, "aic")


def _poly(x: np.ndarray, degree: int) -> np.ndarray:
    return np.vander(x, degree + 1, increasing=True)


def test_gaussian_bayes_is_the_student_t_density():
    from scipy.stats import multivariate_t

    from landmarks.information.codes import gaussian_bayes_code_length

    rng = np.random.default_rng(0)
    x = _poly(rng.uniform(-1, 1, 12), 2)
    y = x @ np.array([0.5, -1.0, 2.0]) + 0.3 * rng.standard_normal(12)
    tau, a, b = 3.0, 2.0, 0.5
    shape = (b / a) * (np.eye(12) + tau**2 * x @ x.T)
    expected = -multivariate_t(loc=np.zeros(12), shape=shape, df=2 * a).logpdf(y) / math.log(2)
    assert gaussian_bayes_code_length(y, x, tau, a, b) == pytest.approx(expected, rel=1e-9)


def test_gaussian_codes_pick_the_true_degree_and_ml_the_largest():
    from landmarks.information.codes import (
        gaussian_bayes_code_length,
        gaussian_ml_code_length,
        gaussian_two_part_code_length,
    )

    rng = np.random.default_rng(1)
    t = rng.uniform(-1, 1, 60)
    y = 1 - 2 * t + 3 * t**3 + 0.3 * rng.standard_normal(60)  # degree 3
    degrees = range(9)
    ml = [gaussian_ml_code_length(y, _poly(t, d)) for d in degrees]
    assert int(np.argmin(ml)) == 8 and all(np.diff(ml) <= 1e-9)  # more parameters never cost ML
    for code in (gaussian_bayes_code_length, gaussian_two_part_code_length):
        assert int(np.argmin([code(y, _poly(t, d)) for d in degrees])) == 3
