"""Description lengths in bits, each named by the code it stands for (Grünwald 2004, 2007).

For a sequence of n symbols from an alphabet of K, with counts n_1 … n_K, and the maximum-
likelihood distribution θ̂_i = n_i / n:

- ``ml_code_length``: −log₂ P(x | θ̂), the data's length under the best distribution chosen
  *after* seeing it. Not a code anyone can decode: the receiver does not know θ̂. Model
  selection by it always prefers the most complex model.
- ``two_part_code_length``: ML plus (K − 1)/2 · log₂ n bits for θ̂ at its optimal precision,
  the asymptotic two-part code (the same penalty as BIC).
- ``bayes_mixture_code_length``: −log₂ ∫ P(x | θ) w(θ) dθ with a Dirichlet(α) prior; α = 1/2
  is the Krichevsky–Trofimov mixture. Closed form:
  log₂ Γ(n + Kα) − log₂ Γ(Kα) − Σ_i [log₂ Γ(n_i + α) − log₂ Γ(α)].
- ``nml_code_length``: normalized maximum likelihood, −log₂ P(x | θ̂(x)) + log₂ C(n, K), with the
  parametric complexity C(n, K) = Σ_{all y of length n} P(y | θ̂(y)) computed exactly
  (``multinomial_complexity``: Kontkanen and Myllymäki's recurrence, 2007), not approximated.

A Markov chain of order k is K^k multinomials, one per context (``markov_code_length``); the
first k symbols are coded uniformly, k·log₂ K bits, under every code.

For real-valued data y (n,) explained linearly, y = Xβ + ε with ε ~ N(0, σ²) (``gaussian_*``),
lengths are of densities: coding y to a fixed precision δ adds n·log₂(1/δ) bits to every model
alike, so the differences that select a model are exact. ``gaussian_bayes_code_length`` is the
Bayes mixture with the conjugate prior β | σ² ~ N(0, σ²τ² I), σ² ~ Inv-Gamma(a, b): under it y
is multivariate Student-t, and the code length is its exact −log₂ density.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = [
    "bayes_mixture_code_length",
    "context_counts",
    "gaussian_bayes_code_length",
    "gaussian_ml_code_length",
    "gaussian_two_part_code_length",
    "markov_code_length",
    "ml_code_length",
    "multinomial_complexity",
    "nml_code_length",
    "two_part_code_length",
]

LOG2E = 1 / math.log(2)


def ml_code_length(counts: Sequence[int]) -> float:
    """−log₂ P(x | θ̂) = −Σ n_i log₂(n_i / n), in bits (0 log 0 = 0)."""
    c = np.asarray(counts, dtype=np.float64)
    n = c.sum()
    nz = c[c > 0]
    return float(-(nz * np.log2(nz / n)).sum()) if n > 0 else 0.0


def two_part_code_length(counts: Sequence[int]) -> float:
    """ML + (K − 1)/2 · log₂ n: the parameters at precision 1/√n (asymptotic two-part code)."""
    n = int(np.sum(counts))
    return ml_code_length(counts) + (len(counts) - 1) / 2 * math.log2(n) if n > 1 else ml_code_length(counts)


def bayes_mixture_code_length(counts: Sequence[int], alpha: float = 0.5) -> float:
    """−log₂ of the Dirichlet(α)-mixture probability of the sequence (α = 1/2: Krichevsky–Trofimov)."""
    c = np.asarray(counts, dtype=np.float64)
    k, n = len(c), c.sum()
    nats = (
        math.lgamma(n + k * alpha)
        - math.lgamma(k * alpha)
        - sum(math.lgamma(x + alpha) - math.lgamma(alpha) for x in c)
    )
    return nats * LOG2E


@lru_cache(maxsize=4096)
def multinomial_complexity(n: int, k: int) -> float:
    """log₂ C(n, K), C(n, K) = Σ_y P(y | θ̂(y)) over all K^n sequences of length n, exactly.

    C(n, 1) = 1; C(n, 2) = Σ_h (n choose h) (h/n)^h ((n − h)/n)^(n − h); then
    C(n, K + 2) = C(n, K + 1) + n/K · C(n, K) (Kontkanen, Myllymäki 2007)."""
    if n < 0 or k < 1:
        raise ValueError(f"need n >= 0 and K >= 1, got n={n}, K={k}")
    if n == 0 or k == 1:
        return 0.0
    from scipy.special import gammaln

    h = np.arange(n + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_terms = (
            gammaln(n + 1)
            - gammaln(h + 1)
            - gammaln(n - h + 1)  # log (n choose h)
            + np.where(h > 0, h * np.log(h / n), 0.0)
            + np.where(h < n, (n - h) * np.log((n - h) / n), 0.0)
        )
    top = log_terms.max()
    c_prev, c = 1.0, float(np.exp(log_terms - top).sum() * math.exp(top))  # C(n, 1), C(n, 2)
    if k == 2:
        return math.log2(c)
    for j in range(1, k - 1):  # C(n, j + 2) from C(n, j + 1) and C(n, j)
        c_prev, c = c, c + n / j * c_prev
    return math.log2(c)


def nml_code_length(counts: Sequence[int]) -> float:
    """−log₂ P(x | θ̂(x)) + log₂ C(n, K): normalized maximum likelihood, in bits."""
    return ml_code_length(counts) + multinomial_complexity(int(np.sum(counts)), len(counts))


CODES = {
    "ml": ml_code_length,
    "two-part": two_part_code_length,
    "bayes": bayes_mixture_code_length,
    "nml": nml_code_length,
}


def context_counts(sequence: Sequence[int], order: int, alphabet: int) -> np.ndarray:
    """(K^order, K) counts of each symbol after each context of ``order`` symbols (from
    position ``order`` on)."""
    x = np.asarray(sequence, dtype=np.int64)
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    context = np.zeros(len(x) - order, dtype=np.int64) if len(x) > order else np.zeros(0, dtype=np.int64)
    for j in range(order):  # the context as a base-K number of the previous `order` symbols
        context = context * alphabet + x[j : len(x) - order + j]
    counts = np.zeros((alphabet**order, alphabet), dtype=np.int64)
    np.add.at(counts, (context, x[order:]), 1)
    return counts


def markov_code_length(sequence: Sequence[int], order: int, alphabet: int, code: str = "nml") -> float:
    """Bits for ``sequence`` under an order-``order`` Markov chain coded by ``code`` (one of
    ml, two-part, bayes, nml), context by context, plus order·log₂ K for the first symbols."""
    if code not in CODES:
        raise ValueError(f"code must be one of {', '.join(CODES)}, got {code!r}")
    counts = context_counts(sequence, order, alphabet)
    return order * math.log2(alphabet) + sum(CODES[code](row) for row in counts if row.sum() > 0)


# ---- linear-Gaussian models --------------------------------------------------------------------------


def gaussian_ml_code_length(y: np.ndarray, design: np.ndarray) -> float:
    """−log₂ p(y | β̂, σ̂²) = n/2 · log₂(2πe σ̂²), σ̂² = RSS/n (least squares), in bits."""
    y, design = np.asarray(y, dtype=np.float64), np.asarray(design, dtype=np.float64)
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    rss = float(np.sum((y - design @ beta) ** 2))
    n = len(y)
    return n / 2 * math.log2(2 * math.pi * math.e * max(rss, 1e-300) / n)


def gaussian_two_part_code_length(y: np.ndarray, design: np.ndarray) -> float:
    """ML + (d + 1)/2 · log₂ n: d coefficients and σ at precision 1/√n (the BIC penalty, in bits)."""
    return gaussian_ml_code_length(y, design) + (design.shape[1] + 1) / 2 * math.log2(len(y))


def gaussian_bayes_code_length(
    y: np.ndarray, design: np.ndarray, tau: float = 10.0, a: float = 1.0, b: float = 1.0
) -> float:
    """−log₂ ∫∫ p(y | β, σ²) N(β; 0, σ²τ²I) InvGamma(σ²; a, b) dβ dσ², exactly, in bits:
    y ~ Student-t with 2a degrees of freedom, location 0 and scale (b/a)(I + τ² X Xᵀ)."""
    y, x = np.asarray(y, dtype=np.float64), np.asarray(design, dtype=np.float64)
    n, d = x.shape
    # Posterior quantities, computed in the d × d space (Woodbury / the matrix determinant lemma).
    precision = x.T @ x + np.eye(d) / tau**2  # V_n⁻¹
    chol = np.linalg.cholesky(precision)
    mean = np.linalg.solve(precision, x.T @ y)  # μ_n
    b_n = b + 0.5 * float(y @ y - mean @ precision @ mean)
    log_det_ratio = 2 * float(np.log(np.diag(chol)).sum()) + d * math.log(tau**2)  # log |I + τ² X Xᵀ|
    nats = (
        n / 2 * math.log(2 * math.pi)
        + 0.5 * log_det_ratio
        + math.lgamma(a)
        - math.lgamma(a + n / 2)
        - a * math.log(b)
        + (a + n / 2) * math.log(b_n)
    )
    return nats * LOG2E
