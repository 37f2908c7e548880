"""Scaling Laws for Neural Language Models (Kaplan, McCandlish, Henighan, Brown, Chess, Child,
Gray, Radford, Wu, Amodei, 2020).

A language model's test loss falls as a power law in each of three things when the other two
do not hold it back (Sec. 1.2, Fig. 1):

    L(N) = (N_c / N)^α_N     N: non-embedding parameters        α_N ≈ 0.076
    L(D) = (D_c / D)^α_D     D: tokens of data                  α_D ≈ 0.095
    L(C) = (C_c / C)^α_C     C: training compute on the frontier α_C ≈ 0.050

and larger models are more sample-efficient: they reach a given loss after fewer tokens
(Fig. 2). Shape (depth against width) matters little at fixed N (Fig. 5), so N alone is the
axis.

``reproduce`` runs a sweep (``landmarks.engine.sweep``: every point a resumable run, finished
points loaded on ``--resume``) of character-level decoder-only Transformers
(``landmarks.nn.transformer``) on the bundled Shakespeare (or your text with ``--data-dir``):

1. six sizes spanning about 60× in N, each trained on the same tokens: the learning curves
   (Fig. 2), the final losses against N (Fig. 1, right), and the compute-efficient frontier,
   the lower envelope of all learning curves against C = 6 N × tokens (Fig. 1, left);
2. the largest size trained on fewer tokens, each with its own schedule: L(D) (Fig. 1, middle).

Each law is fitted on log–log axes by least squares, with a 95 % interval for its exponent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.data.text import encode_chars, random_windows, text_split
from landmarks.engine import Run, derive_seed, fit, warmup_cosine
from landmarks.engine.optim import adamw
from landmarks.engine.sweep import SweepPoint, run_sweep
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig
from landmarks.registry import Card, ClaimSpec

__all__ = ["CARD", "PRESETS", "Config", "PowerLaw", "fit_power_law", "reproduce", "tokens_to_reach"]

USES_DATA_DIR = True  # --data-dir: your own text file (or a folder with input.txt)

PAPER_EXPONENTS = {"N": 0.076, "D": 0.095, "C": 0.050}

CARD = Card(
    citation=(
        "Jared Kaplan, Sam McCandlish, Tom Henighan, Tom B. Brown, Benjamin Chess, Rewon Child, Scott "
        "Gray, Alec Radford, Jeffrey Wu, Dario Amodei. Scaling Laws for Neural Language Models. "
        "arXiv:2001.08361, 2020."
    ),
    takeaways=[
        "Test loss is a power law in non-embedding parameters N, in data D and in compute C, each "
        "over orders of magnitude, when the other two are not the bottleneck.",
        "Architecture details (depth against width, heads) matter little at fixed N; N is the axis.",
        "Larger models are more sample-efficient: they reach a given loss after fewer tokens, so "
        "a fixed compute budget is best spent on a large model trained short of convergence.",
    ],
    claims=[
        ClaimSpec(
            "L(N): power law in non-embedding parameters over 6 sizes spanning ≥ 30× in N, R² of the "
            "log–log fit",
            ">= 0.95",
            "Fig. 1 (right): L = (N / 8.8 × 10¹³)^−0.076, straight over 6 orders of magnitude",
        ),
        ClaimSpec(
            "Larger models reach a fixed loss (the smallest model's final loss) in fewer tokens: "
            "Spearman ρ(N, tokens needed)",
            "<= -0.9",
            "Fig. 2: larger models need fewer tokens to reach the same test loss",
        ),
    ],
    keeps=[
        "non-embedding N as the size axis, C ≈ 6 N per token as the compute",
        "decoder-only pre-LN Transformers (GPT-2's layout) with d_ff = 4 d_model and a fixed head "
        "width, every size trained with the same recipe: Adam, warm-up and cosine decay",
        "the compute-efficient frontier as the lower envelope of every learning curve, and L(D) "
        "from one large model trained on less data",
        "a sweep whose every point is a resumable run",
    ],
    shrinks=[
        "characters of Shakespeare (82 symbols, 4.5 × 10⁶ of them for training; paper: WebText2 in 50,257 BPE tokens)",
        "6 sizes from 3 × 10³ to 2 × 10⁵ non-embedding parameters (paper: 768 to 1.5 × 10⁹), "
        "contexts of 64 (paper: 1,024)",
        "6 × 10⁶ tokens per size (paper: up to 2.3 × 10¹⁰), so the larger models stop short of "
        "convergence; L(D) from 4 budgets spanning 8× (paper: 2.2 × 10⁷ to 2.3 × 10¹⁰)",
        "L(D) trains on D tokens once, not to early stopping on a D-token subset as the paper "
        "does: the loss after D tokens seen",
    ],
    figures={
        "Fig. 1": "α_C = 0.050, α_D = 0.095, α_N = 0.076",
        "Fig. 2": "learning curves by size: larger models are more sample-efficient",
        "Sec. 2.1": "C ≈ 6 N per training token (forward 2N, backward 4N)",
    },
    notes=(
        "In development, at 3 × 10⁶ tokens per size (1,500 steps), the largest models were further "
        "from convergence and the L(N) fit's R² was 0.944; at 6 × 10⁶ it is about 0.96 to 0.99 on "
        "seeds 0-2 (per seed in RESULTS.md). The paper fits L(N) to models trained to "
        "convergence, so the longer run is the "
        "closer protocol. α_D comes out steeper than the paper's because D here is tokens seen "
        "by one model in one schedule, not the size of a data set trained on to early stopping; "
        "α_C steeper for the same reason: the frontier's curves are far from the paper's regime."
    ),
)


@dataclass(frozen=True)
class Config:
    layers: tuple[int, ...] = (1, 1, 2, 2, 3, 4)  # the sizes: layers[i] × widths[i]
    widths: tuple[int, ...] = (16, 32, 32, 48, 64, 64)
    head_width: int = 16
    context: int = 64
    batch: int = 32
    steps: int = 3000  # per size: 3000 × 32 × 64 ≈ 6.1 M tokens, about 1.4 passes over the training text
    data_fractions: tuple[float, ...] = (
        0.125,
        0.25,
        0.5,
    )  # L(D): the largest size on these shares of the tokens
    lr: float = 3e-3
    warmup: int = 50
    eval_every: int = 100
    eval_windows: int = 256

    @property
    def sizes(self) -> list[tuple[int, int]]:
        return list(zip(self.layers, self.widths, strict=True))

    def validate(self) -> None:
        if len(self.layers) != len(self.widths):
            raise ValueError(
                f"layers and widths must be as long as each other, got {self.layers} and {self.widths}"
            )
        if len(self.layers) < 2:
            raise ValueError(
                "the sweep grid needs at least two sizes (layers and widths): a law needs two points"
            )
        if len(set(self.sizes)) != len(self.sizes):
            raise ValueError(f"sizes repeat: {self.sizes}")
        if self.head_width < 1:
            raise ValueError(f"head_width must be >= 1, got {self.head_width}")
        for layers, width in self.sizes:
            if layers < 1 or width < self.head_width or width % self.head_width:
                raise ValueError(
                    f"size ({layers}, {width}): layers must be >= 1 and width a multiple of "
                    f"head_width ({self.head_width})"
                )
        for name in ("head_width", "context", "batch", "steps", "eval_every", "eval_windows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if any(not 0 < f < 1 for f in self.data_fractions):
            raise ValueError(f"data_fractions must lie strictly between 0 and 1, got {self.data_fractions}")
        if self.lr <= 0 or self.warmup < 0:
            raise ValueError("lr must be > 0 and warmup >= 0")


PRESETS = {
    "default": Config(),
    "quick": Config(
        layers=(1, 1),
        widths=(8, 16),
        head_width=8,
        context=16,
        batch=4,
        steps=6,
        data_fractions=(0.5,),
        warmup=1,
        eval_every=3,
        eval_windows=4,
    ),
}


def model_config(layers: int, width: int, cfg: Config, vocab: int) -> TransformerConfig:
    return TransformerConfig(
        vocab_size=vocab,
        block_size=cfg.context,
        n_layer=layers,
        n_head=width // cfg.head_width,
        d_model=width,
    )


# ---- fitting power laws --------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLaw:
    """L = (x_c / x)^α, fitted as log L = α log x_c − α log x by least squares."""

    alpha: float
    alpha_low: float  # the 95 % interval of α
    alpha_high: float
    x_c: float
    r2: float  # of the log–log fit

    def __call__(self, x: np.ndarray | float) -> np.ndarray | float:
        return (self.x_c / np.asarray(x, dtype=float)) ** self.alpha


def fit_power_law(x: list[float] | np.ndarray, loss: list[float] | np.ndarray) -> PowerLaw:
    from scipy import stats

    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(loss, dtype=float))
    if len(lx) < 2 or np.ptp(lx) == 0:
        raise ValueError("a power law needs at least two distinct x")
    slope, intercept = np.polyfit(lx, ly, 1)
    predicted = slope * lx + intercept
    ss_res, ss_tot = float(((ly - predicted) ** 2).sum()), float(((ly - ly.mean()) ** 2).sum())
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else 1.0
    if len(lx) > 2:
        se = math.sqrt(ss_res / (len(lx) - 2) / float(((lx - lx.mean()) ** 2).sum()))
        half = float(stats.t.ppf(0.975, len(lx) - 2)) * se
    else:
        half = float("nan")
    alpha = -float(slope)
    return PowerLaw(
        alpha, alpha - half, alpha + half, float(math.exp(intercept / alpha)) if alpha else float("inf"), r2
    )


def tokens_to_reach(tokens: list[float], losses: list[float], target: float) -> float:
    """The first point of a learning curve at or below ``target``, interpolated on log–log axes
    between evaluations; infinity if the curve never gets there."""
    for i, (t, loss) in enumerate(zip(tokens, losses, strict=True)):
        if loss <= target:
            if i == 0:
                return float(t)
            t0, l0 = tokens[i - 1], losses[i - 1]
            w = (math.log(l0) - math.log(target)) / (math.log(l0) - math.log(loss))
            return float(math.exp(math.log(t0) + w * (math.log(t) - math.log(t0))))
    return float("inf")


# ---- the sweep ------------------------------------------------------------------------------------


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    data = encode_chars(text_split(run.data_dir))
    vocab = len(data.vocab)
    tokens_per_step = cfg.batch * cfg.context
    g = run.generator("validation")
    val_x, val_y = random_windows(data.val, cfg.eval_windows, cfg.context, g)
    val_x, val_y = val_x.to(run.device), val_y.to(run.device)
    train_ids = data.train.to(run.device)
    largest = max(
        cfg.sizes, key=lambda s: DecoderOnlyTransformer(model_config(*s, cfg, vocab)).num_parameters()
    )

    points = [
        SweepPoint(f"L{layers}-d{width}", {"layers": layers, "width": width, "steps": cfg.steps})
        for layers, width in cfg.sizes
    ]
    for fraction in cfg.data_fractions:
        steps = max(1, round(fraction * cfg.steps))
        points.append(
            SweepPoint(
                f"L{largest[0]}-d{largest[1]}-steps{steps}",
                {"layers": largest[0], "width": largest[1], "steps": steps},
            )
        )

    def train(point: SweepPoint) -> dict:
        layers, width, steps = point.settings["layers"], point.settings["width"], point.settings["steps"]
        torch.manual_seed(derive_seed(run.seed, run.paper, "init", layers, width))
        model = DecoderOnlyTransformer(model_config(layers, width, cfg, vocab)).to(run.device)
        optimizer = adamw(
            model.parameters(), device=run.device, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.0
        )

        def batch_fn(step: int) -> tuple[Tensor, Tensor]:  # the same text, in the same order, for every size
            gen = run.generator("batch", step)
            return random_windows(train_ids, cfg.batch, cfg.context, gen)

        def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
            x, y = batch
            return F.cross_entropy(net(x).flatten(0, 1), y.flatten())

        def eval_fn(net: nn.Module) -> dict[str, float]:
            return {"val_loss": float(F.cross_entropy(net(val_x).flatten(0, 1), val_y.flatten()))}

        history = fit(
            run,
            point.name,
            model,
            optimizer,
            steps=steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            scheduler=warmup_cosine(optimizer, min(cfg.warmup, steps), steps, floor=0.1),
            eval_fn=eval_fn,
            eval_every=min(cfg.eval_every, steps),
        )
        n = model.num_parameters(non_embedding=True)
        run.log(
            f"{point.name}: N = {n:,}, validation loss {history.evals[-1]['val_loss']:.4f} ({history.seconds:.0f} s)"
        )
        return {
            "n": n,
            "tokens": [e["step"] * tokens_per_step for e in history.evals],
            "val_loss": [e["val_loss"] for e in history.evals],
            "seconds": round(history.seconds, 2),
        }

    results = run_sweep(run, points, train)
    by_size = [results[p.name] for p in points[: len(cfg.sizes)]]
    by_data = [results[p.name] for p in points[len(cfg.sizes) :]] + [by_size[cfg.sizes.index(largest)]]

    ns = [r["n"] for r in by_size]
    final = [r["val_loss"][-1] for r in by_size]
    law_n = fit_power_law(ns, final)
    law_d = fit_power_law([r["tokens"][-1] for r in by_data], [r["val_loss"][-1] for r in by_data])
    compute, frontier_loss = _frontier(by_size)
    law_c = fit_power_law(compute, frontier_loss)
    target = final[int(np.argmin(ns))]
    needed = [tokens_to_reach(r["tokens"], r["val_loss"], target) for r in by_size]

    from scipy import stats

    rho = float(stats.spearmanr(ns, needed).statistic)
    for name, law in (("N", law_n), ("D", law_d), ("C", law_c)):
        run.metric(
            f"alpha_{name}",
            {
                "measured": round(law.alpha, 4),
                "interval_95": [round(law.alpha_low, 4), round(law.alpha_high, 4)],
                "r2": round(law.r2, 4),
                "paper": PAPER_EXPONENTS[name],
            },
        )
    run.metric(
        "sizes",
        [
            {"layers": s[0], "width": s[1], "n": n, "final_val_loss": round(v, 4)}
            for s, n, v in zip(cfg.sizes, ns, final, strict=True)
        ],
    )
    run.metric("n_span", round(max(ns) / min(ns), 1))
    run.metric("tokens_to_reach_smallest_final_loss", {"target": round(target, 4), "tokens": needed})
    run.metric("seconds_per_point", {p.name: results[p.name]["seconds"] for p in points})
    run.check(CARD.claims[0], law_n.r2)
    run.check(CARD.claims[1], rho)

    _plot_laws(run, cfg, by_size, by_data, (compute, frontier_loss), law_n, law_d, law_c)
    _plot_curves(run, cfg, by_size, target)


def _frontier(by_size: list[dict]) -> tuple[list[float], list[float]]:
    """The lower envelope of every learning curve against compute C = 6 N × tokens."""
    points = sorted(
        (6.0 * r["n"] * t, loss) for r in by_size for t, loss in zip(r["tokens"], r["val_loss"], strict=True)
    )
    compute, losses, best = [], [], float("inf")
    for c, loss in points:
        if loss < best:
            best = loss
            compute.append(c)
            losses.append(loss)
    return compute, losses


# ---- figures --------------------------------------------------------------------------------------


def _plot_laws(run: Run, cfg: Config, by_size, by_data, frontier, law_n, law_d, law_c) -> None:  # type: ignore[no-untyped-def]
    from landmarks.plots import plt

    fig, (c_ax, d_ax, n_ax) = plt.subplots(1, 3, figsize=(15, 4.5))
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(by_size):
        c = [6.0 * r["n"] * t for t in r["tokens"]]
        c_ax.plot(c, r["val_loss"], color=cmap(i / max(1, len(by_size) - 1)), lw=1, alpha=0.7)
    compute, frontier_loss = frontier
    c_ax.plot(compute, frontier_loss, "k.", ms=4)
    grid = np.geomspace(min(compute), max(compute), 50)
    c_ax.plot(
        grid, law_c(grid), "k--", label=f"frontier: α_C = {law_c.alpha:.3f} (paper {PAPER_EXPONENTS['C']})"
    )
    c_ax.set_xlabel("compute C = 6 N × tokens (FLOPs)")
    d = [r["tokens"][-1] for r in by_data]
    d_ax.plot(d, [r["val_loss"][-1] for r in by_data], "o")
    grid = np.geomspace(min(d), max(d), 50)
    d_ax.plot(grid, law_d(grid), "k--", label=f"α_D = {law_d.alpha:.3f} (paper {PAPER_EXPONENTS['D']})")
    d_ax.set_xlabel("tokens D (the largest model)")
    ns = [r["n"] for r in by_size]
    n_ax.plot(ns, [r["val_loss"][-1] for r in by_size], "o")
    grid = np.geomspace(min(ns), max(ns), 50)
    n_ax.plot(
        grid,
        law_n(grid),
        "k--",
        label=f"α_N = {law_n.alpha:.3f} (paper {PAPER_EXPONENTS['N']}), R² = {law_n.r2:.3f}",
    )
    n_ax.set_xlabel("non-embedding parameters N")
    for ax in (c_ax, d_ax, n_ax):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("validation loss (nats per character)")
        ax.legend(fontsize=8)
    run.save_figure(
        fig,
        "laws",
        "Fig. 1: loss against compute (learning curves and frontier), data and parameters, fitted",
    )


def _plot_curves(run: Run, cfg: Config, by_size: list[dict], target: float) -> None:
    from landmarks.plots import plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    cmap = plt.get_cmap("viridis")
    for i, (r, (layers, width)) in enumerate(zip(by_size, cfg.sizes, strict=True)):
        ax.plot(
            r["tokens"],
            r["val_loss"],
            color=cmap(i / max(1, len(by_size) - 1)),
            label=f"{layers} × {width}: N = {r['n']:,}",
        )
    ax.axhline(target, color="grey", ls=":", label="the smallest model's final loss")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tokens processed")
    ax.set_ylabel("validation loss (nats per character)")
    ax.legend(fontsize=8)
    run.save_figure(
        fig, "learning_curves", "Fig. 2: learning curves by size; larger models reach a loss in fewer tokens"
    )
