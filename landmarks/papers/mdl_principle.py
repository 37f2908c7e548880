"""A Tutorial Introduction to the Minimum Description Length Principle (Grünwald, 2004).

MDL: the best model for the data is the one that compresses it most. Learning is finding
regularity, and regularity is what lets data be described in fewer bits. A model class is judged
by the total length of a code for the data built on it, and it must be a code a receiver could
decode. The maximum-likelihood fit alone is not one (the receiver would need the parameters,
chosen after seeing the data), and since a richer class always fits better, it always picks the
most complex model.

Two kinds of code make the choice honest (Sec. 1.3-1.4 of the tutorial, made precise in 2.4-2.6):

- crude, two-part MDL: first the parameters, at the precision worth paying for ((k/2) log₂ n
  bits for k parameters, asymptotically: the same penalty as BIC), then the data given them;
- refined MDL: one code for the whole class. The Bayes mixture ∫ P(x | θ) w(θ) dθ and the
  normalized maximum likelihood P(x | θ̂(x)) / C(n), whose parametric complexity C(n) counts how
  many distinct data sets the class fits well (``landmarks.information.codes``).

``reproduce`` runs the tutorial's two examples, many trials each, with ML, AIC and BIC beside
the codes:

1. Polynomial regression (Example 1.2): which degree generated 40 noisy points?
2. Markov chains (Examples 2.7-2.8 and Sec. 2.6): which order generated a sequence?
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.polynomial import legendre

from landmarks.information.codes import (
    gaussian_bayes_code_length,
    gaussian_ml_code_length,
    gaussian_two_part_code_length,
    markov_code_length,
)
from landmarks.registry import Card, ClaimSpec

if TYPE_CHECKING:
    from landmarks.engine import Run

__all__ = [
    "CARD",
    "CRITERIA",
    "MARKOV_CODES",
    "MARKOV_CRITERIA",
    "PRESETS",
    "Config",
    "markov_criteria",
    "markov_trials",
    "polynomial_criteria",
    "polynomial_trials",
    "reproduce",
    "sample_markov_chains",
    "sample_polynomial",
]

CARD = Card(
    citation=(
        "Peter Grünwald. A Tutorial Introduction to the Minimum Description Length Principle. "
        "In Advances in Minimum Description Length: Theory and Applications, MIT Press, 2005. "
        "arXiv:math/0406077."
    ),
    takeaways=[
        "The best model class is the one that lets the data be coded in the fewest bits, with a "
        "code a receiver could decode: parameters included, one way or another.",
        "Maximum likelihood alone always prefers the richest class (it overfits); a two-part code "
        "charges for the parameters, a refined code (Bayes mixture, NML) for the class's "
        "capacity to fit anything (its parametric complexity).",
        "The same principle selects the degree of a polynomial and the order of a Markov chain.",
    ],
    claims=[
        ClaimSpec(
            "refined MDL (the Bayes-mixture code) picks the true polynomial degree: share of trials",
            ">= 0.8",
            "Sec. 1.3 and 2.5 (Example 1.2, polynomial regression): MDL selects a polynomial of "
            "the right complexity, neither the straight line nor the interpolating one",
        ),
        ClaimSpec(
            "maximum likelihood picks the largest degree offered: share of trials",
            ">= 0.95",
            "Sec. 1.3: a polynomial of degree n − 1 fits n points perfectly; maximum likelihood "
            "always prefers the more complex model",
        ),
        ClaimSpec(
            "refined MDL (the NML code) recovers a Markov chain's order: share of trials",
            ">= 0.8",
            "Sec. 2.6 (Example 2.7, Markov chains): the refined code length is smallest at the "
            "order that generated the data, given enough data",
        ),
    ],
    keeps=[
        "the tutorial's two examples: polynomial regression with Gaussian noise and the order of "
        "a Markov chain",
        "ML, AIC, BIC, the two-part code, the Bayes-mixture code and (for the Markov chains) NML, "
        "every length in bits from its exact formula: the multinomial NML complexity computed "
        "by the exact recurrence, the Gaussian Bayes mixture integrated in closed form",
    ],
    shrinks=[
        "polynomials of degree 3 observed at 40 noisy points on [−1, 1], degrees 0 to 8 offered",
        "3-symbol Markov chains of order 2 and 1,500 steps, orders 0 to 4 offered",
        "200 polynomial trials and 100 Markov trials per run, and as many again per size in a "
        "consistency sweep (12 to 160 points, 100 to 3,000 steps) that shows which criteria "
        "converge on the truth as data grow (on the polynomials AIC does not: it stays right in "
        "about 0.6-0.75 of trials from 40 to 160 points, where at 80 and 160 BIC is right in "
        "0.94-0.98 and the Bayes mixture in 0.99-1)",
    ],
    figures={
        "Sec. 2.4 and Eq. (2.9), two-part code": "L(H) + L(D | H), with (k/2) log n bits for k parameters",
        "Sec. 2.5.3, Eq. (2.17)-(2.18), NML": "P(x | θ̂(x)) / Σ_y P(y | θ̂(y)); parametric complexity log C(n)",
        "Sec. 1.3, ML": "the most complex hypothesis always fits best",
    },
    notes=(
        "The design was fixed before any run. Polynomial trials: x uniform on [−1, 1]; the true "
        "polynomial is written in the Legendre basis P_0 … P_3 with coefficients of magnitude "
        "uniform in [0.5, 1.5] and random sign, plus Gaussian noise of standard deviation 0.3. "
        "The lower bound on the cubic coefficient makes the degree identifiable: its component "
        "stands about 4 noise standard deviations above zero at 40 points. (An earlier draft "
        "drew monomial coefficients from N(0, 1); then the cubic term is often buried in the "
        "noise, and no criterion can or should find degree 3.) Every model is fitted in the "
        "Legendre basis; ML, AIC, BIC and the two-part code do not depend on the basis. The Bayes "
        "mixture uses the conjugate prior β | σ² ~ N(0, σ²τ²I) with τ = 10 and σ² ~ "
        "Inv-Gamma(1, 1). AIC and BIC use the maximized Gaussian likelihood with k = d + 2 "
        "parameters (d + 1 coefficients and σ); the asymptotic two-part code and BIC differ by a "
        "constant and so pick alike. Lengths of real-valued data are of densities: coding y to a "
        "fixed precision adds the same number of bits to every model and does not change the "
        "choice. Markov trials: each context's next-symbol distribution is drawn from a "
        "Dirichlet(0.3); the first symbols are uniform. The Markov NML code is NML per context, "
        "each context's multinomial complexity computed exactly for its count (the conditional "
        "NML of Rissanen's Markov-chain examples), not the normalizer summed over whole "
        "sequences. ML always picking the largest model is a theorem for nested classes; the "
        "claim checks that the code lengths implement it (on the polynomials; the chains' code also "
        "sends the first symbols, and there ML picked order 4 in 98 to 100 of 100 trials per seed)."
    ),
)


@dataclass(frozen=True)
class Config:
    trials: int = 200
    points: int = 40
    true_degree: int = 3
    max_degree: int = 8
    noise: float = 0.3
    tau: float = 10.0  # the Bayes mixture's prior scale, in units of σ
    markov_trials: int = 100
    markov_length: int = 1500
    markov_order: int = 2
    max_order: int = 4
    alphabet: int = 3
    concentration: float = 0.3  # the Dirichlet that draws each context's distribution
    sweep_points: tuple[int, ...] = (12, 20, 40, 80, 160)  # consistency: points per polynomial trial
    sweep_lengths: tuple[int, ...] = (100, 300, 1000, 3000)  # and Markov sequence lengths

    def validate(self) -> None:
        for name in ("trials", "points", "markov_trials", "markov_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("true_degree", "max_degree", "markov_order", "max_order"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.true_degree > self.max_degree:
            raise ValueError(
                f"true_degree ({self.true_degree}) must not exceed max_degree ({self.max_degree})"
            )
        if self.max_degree + 3 > self.points:
            raise ValueError(
                f"points ({self.points}) must exceed max_degree + 2 ({self.max_degree + 2}): "
                "the noise variance needs residual degrees of freedom"
            )
        if self.markov_order > self.max_order:
            raise ValueError(
                f"markov_order ({self.markov_order}) must not exceed max_order ({self.max_order})"
            )
        if self.alphabet < 2:
            raise ValueError(f"alphabet must be >= 2, got {self.alphabet}")
        if self.alphabet**self.max_order > 100_000:
            raise ValueError(
                f"alphabet^max_order = {self.alphabet**self.max_order} contexts is too many; lower max_order"
            )
        if self.markov_length <= self.max_order:
            raise ValueError(f"markov_length must exceed max_order, got {self.markov_length}")
        if any(n < self.max_degree + 3 for n in self.sweep_points):
            raise ValueError(f"every sweep_points value must be >= max_degree + 3, got {self.sweep_points}")
        if any(n <= self.max_order for n in self.sweep_lengths):
            raise ValueError(f"every sweep_lengths value must exceed max_order, got {self.sweep_lengths}")
        for name in ("noise", "tau", "concentration"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


PRESETS = {
    "default": Config(),
    "quick": Config(trials=6, markov_trials=3, markov_length=300, sweep_points=(20,), sweep_lengths=(100,)),
}

CRITERIA = ("ML", "AIC", "BIC", "two-part", "Bayes mixture")
MARKOV_CODES = {"ML": "ml", "two-part": "two-part", "Bayes mixture": "bayes", "NML": "nml"}
MARKOV_CRITERIA = ("ML", "AIC", "BIC", "two-part", "Bayes mixture", "NML")


# ---- 1. polynomial regression --------------------------------------------------------------------


def sample_polynomial(
    rng: np.random.Generator, points: int, degree: int, noise: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x uniform on [−1, 1], y = Σ_j c_j P_j(x) + noise; |c_j| uniform in [0.5, 1.5], random sign.
    Returns x, y and the Legendre coefficients c."""
    x = rng.uniform(-1.0, 1.0, points)
    c = rng.uniform(0.5, 1.5, degree + 1) * rng.choice([-1.0, 1.0], degree + 1)
    y = legendre.legval(x, c) + noise * rng.standard_normal(points)
    return x, y, c


def polynomial_criteria(
    x: np.ndarray, y: np.ndarray, max_degree: int, tau: float = 10.0
) -> dict[str, np.ndarray]:
    """Bits for y under each degree 0 … max_degree, per criterion. AIC and BIC are written as
    code lengths too: half of the usual −2 ln L + penalty, converted to bits, so that every
    criterion is 'pick the smallest' on one scale."""
    n = len(y)
    out = {name: np.zeros(max_degree + 1) for name in CRITERIA}
    for d in range(max_degree + 1):
        design = legendre.legvander(x, d)  # (n, d + 1): P_0(x) … P_d(x)
        ml = gaussian_ml_code_length(y, design)
        k = d + 2  # coefficients and σ
        out["ML"][d] = ml
        out["AIC"][d] = ml + k / math.log(2)  # (2k − 2 ln L) / 2 nats
        out["BIC"][d] = ml + k / 2 * math.log2(n)
        out["two-part"][d] = gaussian_two_part_code_length(y, design)
        out["Bayes mixture"][d] = gaussian_bayes_code_length(y, design, tau=tau)
    return out


# ---- 2. Markov-chain order -------------------------------------------------------------------------


def sample_markov_chains(
    rng: np.random.Generator, trials: int, length: int, order: int, alphabet: int, concentration: float
) -> tuple[np.ndarray, np.ndarray]:
    """(trials, length) symbols, one order-``order`` chain per row with its own transition table
    (each context's next-symbol distribution ~ Dirichlet(concentration)), simulated together;
    and the tables, (trials, alphabet^order, alphabet), contexts as base-``alphabet`` numbers."""
    contexts = alphabet**order
    tables = rng.dirichlet(np.full(alphabet, concentration), size=(trials, contexts))
    cumulative = np.cumsum(tables, axis=-1)
    cumulative[..., -1] = 1.0  # no draw falls past the last symbol through rounding
    seq = np.zeros((trials, length), dtype=np.int64)
    seq[:, :order] = rng.integers(0, alphabet, (trials, order))
    u = rng.random((trials, length))
    rows = np.arange(trials)
    context = np.zeros(trials, dtype=np.int64)
    for j in range(order):
        context = context * alphabet + seq[:, j]
    for t in range(order, length):
        symbol = (cumulative[rows, context] < u[:, t, None]).sum(axis=-1)
        seq[:, t] = symbol
        if order:
            context = (context * alphabet + symbol) % contexts
    return seq, tables


def markov_criteria(sequence: np.ndarray, max_order: int, alphabet: int) -> dict[str, np.ndarray]:
    """Bits for the sequence under each order 0 … max_order, per criterion: ML, AIC and BIC (as
    code lengths, like ``polynomial_criteria``; an order-k chain has K^k·(K − 1) free parameters)
    and the two-part, Bayes-mixture (Krichevsky–Trofimov) and NML codes."""
    orders = range(max_order + 1)
    codes = {
        name: np.array([markov_code_length(sequence, o, alphabet, code) for o in orders])
        for name, code in MARKOV_CODES.items()
    }
    k = np.array([alphabet**o * (alphabet - 1) for o in orders])
    ml = codes["ML"]
    return {
        "ML": ml,
        "AIC": ml + k / math.log(2),  # (2k − 2 ln L) / 2 nats
        "BIC": ml + k / 2 * math.log2(len(sequence)),
        **{name: v for name, v in codes.items() if name != "ML"},
    }


# ---- the experiment ----------------------------------------------------------------------------------


def polynomial_trials(
    rng: np.random.Generator, cfg: Config, points: int, bar: Any = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``cfg.trials`` polynomial trials of ``points`` points: the degree each criterion picks per
    trial, and the first trial's code lengths and data (for the plots)."""
    picks = {name: np.zeros(cfg.trials, dtype=np.int64) for name in CRITERIA}
    for t in range(cfg.trials):
        x, y, c = sample_polynomial(rng, points, cfg.true_degree, cfg.noise)
        lengths = polynomial_criteria(x, y, cfg.max_degree, cfg.tau)
        for name, values in lengths.items():
            picks[name][t] = int(np.argmin(values))
        if t == 0:
            example, data = lengths, (x, y, c)
        if bar is not None:
            bar.update()
    return picks, example, data


def markov_trials(
    rng: np.random.Generator, cfg: Config, length: int, bar: Any = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``cfg.markov_trials`` chains of ``length`` steps: the order each code picks per trial, and
    the first trial's code lengths."""
    chains, _ = sample_markov_chains(
        rng, cfg.markov_trials, length, cfg.markov_order, cfg.alphabet, cfg.concentration
    )
    picks = {
        name: np.zeros(cfg.markov_trials, dtype=np.int64)
        for name in ("ML", "AIC", "BIC", *list(MARKOV_CODES)[1:])
    }
    for t in range(cfg.markov_trials):
        lengths = markov_criteria(chains[t], cfg.max_order, cfg.alphabet)
        for name, values in lengths.items():
            picks[name][t] = int(np.argmin(values))
        if t == 0:
            example = lengths
        if bar is not None:
            bar.update()
    return picks, example


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    work = cfg.trials * (1 + len(cfg.sweep_points)) + cfg.markov_trials * (1 + len(cfg.sweep_lengths))
    bar = run.progress(total=work, desc="trials", unit="trial")

    # 1. Polynomial regression: which degree?
    picks, example, data = polynomial_trials(run.rng("polynomials"), cfg, cfg.points, bar)
    right = {name: float(np.mean(p == cfg.true_degree)) for name, p in picks.items()}
    largest = {name: float(np.mean(p == cfg.max_degree)) for name, p in picks.items()}
    run.log("true degree picked: " + ", ".join(f"{k} {v:.3f}" for k, v in right.items()))
    run.log("largest degree picked: " + ", ".join(f"{k} {v:.3f}" for k, v in largest.items()))

    # 2. Markov chains: which order?
    order_picks, markov_example = markov_trials(run.rng("markov"), cfg, cfg.markov_length, bar)
    order_right = {name: float(np.mean(p == cfg.markov_order)) for name, p in order_picks.items()}
    run.log("Markov order recovered: " + ", ".join(f"{k} {v:.3f}" for k, v in order_right.items()))

    # 3. Consistency: the share of right answers as the data grow (fresh trials per size).
    degree_by_points = {
        n: {
            k: float(np.mean(p == cfg.true_degree))
            for k, p in polynomial_trials(run.rng("sweep", n), cfg, n, bar)[0].items()
        }
        for n in cfg.sweep_points
    }
    order_by_length = {
        n: {
            k: float(np.mean(p == cfg.markov_order))
            for k, p in markov_trials(run.rng("sweep", n), cfg, n, bar)[0].items()
        }
        for n in cfg.sweep_lengths
    }
    bar.close()

    run.metric("polynomial_true_degree_share", right)
    run.metric("polynomial_largest_degree_share", largest)
    run.metric(
        "polynomial_degree_picks",
        {k: np.bincount(v, minlength=cfg.max_degree + 1).tolist() for k, v in picks.items()},
    )
    run.metric("polynomial_example_bits", {k: np.round(v, 3).tolist() for k, v in example.items()})
    run.metric("markov_true_order_share", order_right)
    run.metric(
        "markov_order_picks",
        {k: np.bincount(v, minlength=cfg.max_order + 1).tolist() for k, v in order_picks.items()},
    )
    run.metric("markov_example_bits", {k: np.round(v, 3).tolist() for k, v in markov_example.items()})
    run.metric("true_degree_share_by_points", {str(n): v for n, v in degree_by_points.items()})
    run.metric("true_order_share_by_length", {str(n): v for n, v in order_by_length.items()})

    run.check(CARD.claims[0], right["Bayes mixture"])
    run.check(CARD.claims[1], largest["ML"])
    run.check(CARD.claims[2], order_right["NML"])

    _plot(run, cfg, example, data, picks, markov_example, order_picks, degree_by_points, order_by_length)


def _plot(
    run: Run,
    cfg: Config,
    example: dict[str, np.ndarray],
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    picks: dict[str, np.ndarray],
    markov_example: dict[str, np.ndarray],
    order_picks: dict[str, np.ndarray],
    degree_by_points: dict[int, dict[str, float]],
    order_by_length: dict[int, dict[str, float]],
) -> None:
    from landmarks.plots import plt

    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
    fit_ax, curve_ax, pick_ax, sweep_ax = axes
    x, y, c = data
    grid = np.linspace(-1, 1, 200)
    fit_ax.plot(x, y, "k.", label="data (trial 1)")
    fit_ax.plot(grid, legendre.legval(grid, c), "k-", lw=1, label=f"true, degree {cfg.true_degree}")
    for name in ("ML", "Bayes mixture"):
        d = int(np.argmin(example[name]))
        coef = np.linalg.lstsq(legendre.legvander(x, d), y, rcond=None)[0]
        fit_ax.plot(grid, legendre.legval(grid, coef), label=f"{name}: degree {d}")
    fit_ax.set_ylim(y.min() - 0.5, y.max() + 0.5)
    fit_ax.set_xlabel("x")
    fit_ax.legend(fontsize=8)
    fit_ax.set_title("a trial and the least-squares fits picked")
    _curves_and_picks(curve_ax, pick_ax, example, picks, cfg.true_degree, "polynomial degree", "degree")
    _sweep(sweep_ax, degree_by_points, "points", cfg.points)
    run.save_figure(
        fig, "polynomial", "Polynomial regression: a fit, code lengths per degree, degrees picked"
    )

    fig, (curve_ax, pick_ax, sweep_ax) = plt.subplots(1, 3, figsize=(15, 4.2))
    _curves_and_picks(
        curve_ax, pick_ax, markov_example, order_picks, cfg.markov_order, "Markov order", "order"
    )
    _sweep(sweep_ax, order_by_length, "sequence length", cfg.markov_length)
    run.save_figure(fig, "markov", "Markov chains: code length per order and the orders each code picks")


def _curves_and_picks(
    curve_ax: Any,
    pick_ax: Any,
    example: dict[str, np.ndarray],
    picks: dict[str, np.ndarray],
    true: int,
    xlabel: str,
    what: str,
) -> None:
    """Left: each criterion's code length per model (one trial), above its minimum. Right: the
    share of trials in which each criterion picked each model."""
    models = np.arange(len(next(iter(example.values()))))
    for name, values in example.items():
        # dashed: the two-part code, whose penalty is BIC's (per context for the chains)
        style = "o--" if name == "two-part" else "o-"
        curve_ax.plot(models, values - values.min(), style, ms=3, label=name)
    curve_ax.axvline(true, color="grey", lw=0.8)
    curve_ax.set_yscale("symlog", linthresh=1)
    curve_ax.set_ylim(bottom=0)
    curve_ax.set_xlabel(xlabel)
    curve_ax.set_ylabel("bits above the criterion's minimum")
    curve_ax.set_title(f"code length per {what} (trial 1)")
    curve_ax.legend(fontsize=8)
    width = 0.8 / len(picks)
    for i, (name, p) in enumerate(picks.items()):
        share = np.bincount(p, minlength=len(models)) / len(p)
        pick_ax.bar(models + (i + 0.5) * width - 0.4, share, width, label=name)
    pick_ax.set_xlabel(f"{what} picked")
    pick_ax.set_ylabel(f"share of {len(next(iter(picks.values())))} trials")
    pick_ax.set_title(f"{what}s picked (true: {true})")
    pick_ax.legend(fontsize=8)


def _sweep(ax: Any, shares: dict[int, dict[str, float]], xlabel: str, default: int) -> None:
    sizes = sorted(shares)
    for name in next(iter(shares.values())):
        # dashed: the two-part code, whose penalty is BIC's (per context for the chains)
        style = "o--" if name == "two-part" else "o-"
        ax.plot(sizes, [shares[n][name] for n in sizes], style, ms=3, label=name)
    ax.axvline(default, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of trials right")
    ax.set_title("more data: consistent codes converge")
    ax.legend(fontsize=8)
