"""Pointer Networks (Vinyals, Fortunato, Jaitly, 2015).

A sequence-to-sequence model has a fixed output vocabulary. Many problems do not: the answer to
"which points make up the convex hull, in order?" or "in which order should the salesman visit
the cities?" is a sequence of *positions in the input*, and the number of possible answers grows
with the input. A pointer network (Ptr-Net) uses the decoder's attention as its output: at
step i the attention scores over the n inputs are the logits of a softmax over "which input
comes next" (Sec. 2.3, Eq. 3):

    u^i_j = v^T tanh(W1 e_j + W2 d_i),   p(C_i | C_1, ..., C_{i−1}, P) = softmax(u^i)

so one model handles any n, including n never seen in training.

This module, in the paper's order:

1. ``PointerNetwork``: an LSTM encoder over the points (e_j), an LSTM decoder (d_i) fed the
   coordinates of the point it chose last, and the pointer attention above
   (``landmarks.nn.pointer``). The decoder may not point at padding or at a point already
   chosen; a learned "end" slot stops the output. For tours every city must be chosen, so the
   end slot opens only when none is left (the paper's beam search keeps only valid tours).
2. Decoding: greedy and beam search (``landmarks.nn.decoding``) over pointer slots.
3. ``reproduce``: convex hulls of 5–10 points (exact hulls from ``landmarks.data.geometry``),
   tested at n = 10 (exact-sequence accuracy, area coverage) and at n = 20, never seen; and
   travelling-salesman tours of 5 cities against the Held–Karp optimum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.data.geometry import (
    ConvexHullTask,
    PointerBatch,
    TSPTask,
    hull_area_coverage,
    is_valid_tour,
    nearest_neighbour_tour,
    tour_length,
)
from landmarks.data.synthetic import batches, eval_set
from landmarks.engine import Run, fit, warmup_cosine
from landmarks.nn.pointer import PointerDecoder, PointerMemory, pointer_targets
from landmarks.nn.recurrent import LSTM
from landmarks.registry import Card, ClaimSpec

__all__ = [
    "CARD",
    "PRESETS",
    "Config",
    "PointerNetwork",
    "exact_accuracy",
    "features",
    "hull_coverage",
    "pointer_loss",
    "reproduce",
]

CARD = Card(
    citation=(
        "Oriol Vinyals, Meire Fortunato, Navdeep Jaitly. Pointer Networks. NeurIPS 2015. arXiv:1506.03134."
    ),
    takeaways=[
        "When the output is a sequence of input positions, the attention's distribution over the "
        "inputs can be the output itself: u^i_j = v^T tanh(W1 e_j + W2 d_i), "
        "p(C_i | C_<i, P) = softmax(u^i). The output vocabulary is the input, whatever its size.",
        "One model therefore serves every input size, and generalizes beyond the sizes it was "
        "trained on (hulls of 500 points from training on 5–50).",
        "Combinatorial problems (convex hull, Delaunay triangulation, small TSP) can be learned "
        "from examples of their solutions alone; constraints such as 'visit every city once' "
        "are imposed at decoding time.",
    ],
    claims=[
        ClaimSpec(
            "convex hull, n = 10 (trained on 5–10 points): exact-sequence accuracy, greedy decoding",
            ">= 0.70",
            "Table 1, trained and tested on n = 50: 72.6 %",
        ),
        ClaimSpec(
            "convex hull, n = 10: area coverage (predicted polygon / true hull; an invalid polygon counts 0)",
            ">= 0.99",
            "Table 1, n = 50: 99.9 %",
        ),
        ClaimSpec(
            "convex hull, trained on n ≤ 10, tested on n = 20 (never seen): area coverage",
            ">= 0.95",
            "Table 1, trained on 5–50, tested on n = 500: 99.2 % (accuracy 1.3 %)",
        ),
        ClaimSpec(
            "TSP, n = 5: mean tour length of the Ptr-Net (beam search) / mean optimal length",
            "<= 1.05",
            "Table 2, n = 5: Ptr-Net 2.12, optimal 2.12",
        ),
    ],
    keeps=[
        "the Ptr-Net exactly: LSTM encoder over the coordinates, LSTM decoder fed the coordinates "
        "of the last point chosen, pointer attention u = v^T tanh(W1 e_j + W2 d_i) as the output",
        "the paper's data: points uniform in the unit square, hulls as counter-clockwise vertex "
        "sequences from the lowest index, exact optimal tours (Held–Karp) as targets",
        "the paper's metrics: exact-sequence accuracy, area covered by the predicted polygon, "
        "and mean tour length against the optimum; training on a range of n and testing beyond it",
        "beam search for TSP, restricted to valid tours (the paper: 'only valid tours')",
    ],
    shrinks=[
        "hulls of 5–10 points (paper: 5–50, and up to 500 at test), tested at 10 and at 20",
        "TSP on 5 cities only (paper: 5–20 cities with exact Held-Karp tours as targets; "
        "approximate tours, its A1-A3, only for n = 50)",
        "one LSTM layer of 128 units (paper: 256 or 512); 5000 Adam steps of 128 examples for hulls "
        "and 1000 for TSP, with warm-up and cosine decay (paper: SGD on 1 M examples)",
        "used points are masked for hulls too (the paper constrained only its TSP beam search); an "
        "invalid polygon scores 0 area instead of being excluded",
    ],
    figures={
        "convex hull, n = 50, Ptr-Net: accuracy / area (Table 1)": "72.6 % / 99.9 %",
        "convex hull, trained 5–50, tested n = 500: accuracy / area (Table 1)": "1.3 % / 99.2 %",
        "TSP n = 5: optimal / Ptr-Net mean tour length (Table 2)": "2.12 / 2.12",
        "TSP n = 10: optimal / Ptr-Net mean tour length (Table 2)": "2.87 / 2.88",
    },
    notes=(
        "Area coverage is the mean over test sets of the predicted polygon's area over the true "
        "hull's, with a polygon that is not simple (or has under three vertices) scoring 0, so "
        "failures count against it; the paper instead averaged over valid polygons and reported "
        "FAIL when more than 1 % were invalid. We report the share of invalid polygons beside it. "
        "Exact-sequence accuracy needs the hull's canonical form: counter-clockwise, starting at "
        "the lowest input index, which the network learns from the targets. That start is the hard "
        "part for a forward-only encoder: e_j has seen only the first j points, so whether an early "
        "point is on the hull is known only from the encoder's final state, and in development about "
        "12 % of the n = 10 test sets went wrong at the first pointer. With 3000 hull steps, exact "
        "accuracy at n = 10 ended between 0.67 and 0.71 across seeds 0–2; 5000 steps lift it (0.71 "
        "to 0.75 in the committed runs, per seed in RESULTS.md), as a 256-unit "
        "LSTM also does, but that costs about three times as much per step. TSP needs its 1000 "
        "steps: with 700 the tour ratio on seed 0 was 1.08. "
        "The TSP bar of 1.05 is loose at n = 5: the nearest-neighbour heuristic, which learns "
        "nothing, is within it on the same test sets (1.040, 1.043 and 1.039 on seeds 0 to 2; "
        "recorded as ``tsp_nearest_neighbour_length_ratio``), so the claim shows that the Ptr-Net "
        "learned to make tours, and its distance below the heuristic's ratio is what shows it "
        "learned more than the greedy rule."
    ),
)


# ---- 1. the model --------------------------------------------------------------------------------


class PointerNetwork(nn.Module):
    """Ptr-Net: read each element, encode the sequence with an LSTM, point with the decoder.

    ``read`` embeds each element (default: a linear map of its ``input_size`` features); the
    decoder's input at each step is the embedding of the element chosen in the previous step.
    Also the seq2seq baseline of ``order-matters``, which reads a set as a sequence.
    """

    def __init__(
        self,
        input_size: int,
        embed: int,
        hidden: int,
        attention: int,
        read: nn.Module | None = None,
        mask_used: bool = True,
    ) -> None:
        super().__init__()
        self.read = read if read is not None else nn.Linear(input_size, embed)  # (x, y) → embedding
        self.encoder = LSTM(embed, hidden, batch_first=True)
        self.decoder = PointerDecoder(embed, hidden, hidden, attention, mask_used=mask_used)

    def encode(self, x: Tensor, lengths: Tensor) -> tuple[tuple[Tensor, Tensor], PointerMemory]:
        """x (B, n, F), lengths (B,) → the encoder's final (h, c), each (B, H), and the memory."""
        n = x.shape[1]
        emb = self.read(x)  # (B, n, E)
        valid = torch.arange(n, device=x.device)[None, :] < lengths[:, None]  # (B, n)
        # each set for its own length (one packed kernel call): (h, c) after its last element,
        # keys e_j zero on padding, which is never pointed at
        keys, (h, c) = self.encoder(emb, lengths=lengths)
        return (h[0], c[0]), self.decoder.memory(keys, emb, valid)

    def forward(self, x: Tensor, lengths: Tensor, slots: Tensor, complete: bool) -> Tensor:
        """Teacher forcing: log-probabilities (B, T, n + 1) of the pointer slots ``slots`` (B, T)."""
        state, memory = self.encode(x, lengths)
        return self.decoder(state, memory, slots, complete)

    @torch.no_grad()
    def solve(self, x: Tensor, lengths: Tensor, complete: bool, beam: int = 1) -> tuple[Tensor, Tensor]:
        """Predicted element indices (B, n), −1 past each output's length, and the lengths."""
        state, memory = self.encode(x, lengths)
        return self.decoder.decode(state, memory, complete, beam=beam)


# ---- training and measuring -----------------------------------------------------------------------


def pointer_loss(log_p: Tensor, slots: Tensor) -> Tensor:
    """Mean −log p of every target slot (END included), padding (−1) ignored."""
    return F.nll_loss(log_p.flatten(0, 1), slots.flatten(), ignore_index=-1)


def exact_accuracy(predicted: Tensor, target: Tensor) -> float:
    """Share of rows where the predicted indices equal the target, both (B, ·) and −1-padded."""
    width = max(predicted.shape[1], target.shape[1])
    predicted = F.pad(predicted, (0, width - predicted.shape[1]), value=-1)
    target = F.pad(target, (0, width - target.shape[1]), value=-1)
    return float((predicted == target).all(1).float().mean())


def hull_coverage(batch: PointerBatch, predicted: Tensor, lengths: Tensor) -> np.ndarray:
    """Area coverage of each predicted hull (0 for an invalid polygon), (B,) float64."""
    out = np.zeros(len(lengths))
    for i, (points, n, target, k, m) in enumerate(
        zip(batch.points, batch.n_points, batch.target, batch.target_len, lengths)
    ):
        out[i] = hull_area_coverage(
            points[: int(n)], predicted[i, : int(m)].tolist(), target[: int(k)].tolist()
        )
    return out


# ---- 3. the experiment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    hull_min: int = 5  # training sets have hull_min..hull_max points
    hull_max: int = 10
    hull_test_n: int = 10  # the claim's n
    generalize_n: int = 20  # tested, never trained on
    tsp_n: int = 5
    embed: int = 128
    hidden: int = 128
    attention: int = 128
    batch: int = 128
    hull_steps: int = 5000
    tsp_steps: int = 1000
    lr: float = 3e-3
    clip_norm: float = 2.0
    test_size: int = 1000
    beam: int = 4  # TSP decoding; the hull claims use greedy decoding
    eval_every: int = 250

    def validate(self) -> None:
        for name in ("embed", "hidden", "attention", "batch", "hull_steps", "tsp_steps", "test_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 3 <= self.hull_min <= self.hull_max:
            raise ValueError(f"need 3 <= hull_min <= hull_max, got {self.hull_min} and {self.hull_max}")
        if self.hull_test_n < 3 or self.generalize_n < 3:
            raise ValueError(
                f"hull_test_n and generalize_n must be >= 3, got {self.hull_test_n} and {self.generalize_n}"
            )
        if not 3 <= self.tsp_n <= 10:
            raise ValueError(f"tsp_n must be 3 to 10 (optimal tours are computed exactly), got {self.tsp_n}")
        if self.beam < 1:
            raise ValueError(f"beam must be >= 1 (1 is greedy decoding), got {self.beam}")
        if not self.lr > 0 or not self.clip_norm > 0:
            raise ValueError(f"lr and clip_norm must be > 0, got {self.lr} and {self.clip_norm}")
        if self.eval_every < 0:
            raise ValueError(
                f"eval_every must be >= 0 (0: no evaluation during training), got {self.eval_every}"
            )


PRESETS = {
    "default": Config(),
    "quick": Config(
        generalize_n=12,
        embed=16,
        hidden=16,
        attention=16,
        batch=16,
        hull_steps=10,
        tsp_steps=10,
        test_size=32,
        beam=2,
        eval_every=5,
    ),
}


def features(points: Tensor) -> Tensor:
    """The network's input: coordinates centred on the unit square (padding is never read)."""
    return points - 0.5


def _slots(batch: PointerBatch) -> Tensor:
    return pointer_targets(batch.target, batch.target_len)


def train_pointer_network(
    run: Run,
    name: str,
    cfg: Config,
    task: ConvexHullTask | TSPTask,
    steps: int,
    complete: bool,
    val: PointerBatch,
):  # type: ignore[no-untyped-def]
    torch.manual_seed(run.seed)
    model = PointerNetwork(2, cfg.embed, cfg.hidden, cfg.attention).to(run.device)
    draw = batches(task, run.seed, cfg.batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = warmup_cosine(optimizer, warmup=min(50, steps // 10 + 1), total=steps, floor=0.05)

    def loss_fn(net: nn.Module, batch: PointerBatch) -> Tensor:
        slots = _slots(batch)
        return pointer_loss(net(features(batch.points), batch.n_points, slots, complete), slots)

    def eval_fn(net: nn.Module) -> dict[str, float]:
        predicted, _ = net.solve(features(val.points), val.n_points, complete)
        return {"val_exact_accuracy": exact_accuracy(predicted, val.target)}

    history = fit(
        run,
        name,
        model,
        optimizer,
        steps=steps,
        batch_fn=lambda step: draw(step).to(run.device),
        loss_fn=loss_fn,
        scheduler=scheduler,
        clip_norm=cfg.clip_norm,
        eval_fn=eval_fn,
        eval_every=cfg.eval_every,
    )
    model.eval()
    return model, history


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    hull_task = ConvexHullTask(cfg.hull_min, cfg.hull_max)
    hull_val = eval_set(hull_task, run.seed, min(cfg.test_size, 256)).to(run.device)
    hull_test = eval_set(ConvexHullTask(cfg.hull_test_n, cfg.hull_test_n), run.seed, cfg.test_size, "test")
    far_test = eval_set(ConvexHullTask(cfg.generalize_n, cfg.generalize_n), run.seed, cfg.test_size, "test")
    tsp_task = TSPTask(cfg.tsp_n)
    tsp_val = eval_set(tsp_task, run.seed, min(cfg.test_size, 256)).to(run.device)
    tsp_test = eval_set(tsp_task, run.seed, cfg.test_size, "test")

    # Convex hull: trained on hull_min..hull_max points, greedy decoding.
    hull_model, hull_history = train_pointer_network(
        run, "convex_hull", cfg, hull_task, cfg.hull_steps, complete=False, val=hull_val
    )
    began = time.perf_counter()
    hull = {}
    for label, test in (("test", hull_test), ("generalize", far_test)):
        predicted, lengths = hull_model.solve(
            features(test.points.to(run.device)), test.n_points.to(run.device), False
        )
        predicted, lengths = predicted.cpu(), lengths.cpu()
        coverage = hull_coverage(test, predicted, lengths)
        hull[label] = {
            "n": int(test.n_points[0]),
            "exact_accuracy": exact_accuracy(predicted, test.target),
            "area_coverage": float(coverage.mean()),
            "invalid_share": float((coverage == 0).mean()),
            "predicted": predicted,
            "lengths": lengths,
        }
        run.log(
            f"convex hull n={hull[label]['n']}: exact {hull[label]['exact_accuracy']:.3f}, "
            f"area {hull[label]['area_coverage']:.4f}, invalid {hull[label]['invalid_share']:.3f}"
        )
    hull_seconds = time.perf_counter() - began

    # TSP: every city exactly once; beam search as in the paper, greedy reported beside it.
    tsp_model, tsp_history = train_pointer_network(
        run, "tsp", cfg, tsp_task, cfg.tsp_steps, complete=True, val=tsp_val
    )
    points, n_points = tsp_test.points.to(run.device), tsp_test.n_points.to(run.device)
    optimal = tour_length(tsp_test.points, tsp_test.target)  # (B,) float64
    tours, mean_length, valid = {}, {}, {}
    for label, beam in (("greedy", 1), (f"beam{cfg.beam}", cfg.beam)):
        tour, _ = tsp_model.solve(features(points), n_points, True, beam=beam)
        tours[label] = tour.cpu()
        valid[label] = float(is_valid_tour(tours[label], cfg.tsp_n).float().mean())
        mean_length[label] = float(tour_length(tsp_test.points, tours[label].clamp(min=0)).mean())
    beam_label = f"beam{cfg.beam}"
    ratio = mean_length[beam_label] / float(optimal.mean())
    heuristic = float(tour_length(tsp_test.points, nearest_neighbour_tour(tsp_test.points)).mean())
    run.log(
        f"TSP n={cfg.tsp_n}: optimal {float(optimal.mean()):.4f}, greedy {mean_length['greedy']:.4f}, "
        f"beam {cfg.beam} {mean_length[beam_label]:.4f} (ratio {ratio:.4f})"
    )

    run.metric("hull_train_n", [cfg.hull_min, cfg.hull_max])
    for h in hull.values():
        for key in ("exact_accuracy", "area_coverage", "invalid_share"):
            run.metric(f"hull_n{h['n']}_{key}", h[key])
    run.metric("hull_decode_seconds", round(hull_seconds, 2))
    run.metric("tsp_optimal_mean_length", float(optimal.mean()))
    run.metric("tsp_mean_length", mean_length)
    run.metric("tsp_valid_tour_share", valid)
    run.metric("tsp_length_ratio", ratio)
    run.metric("tsp_nearest_neighbour_length_ratio", heuristic / float(optimal.mean()))  # no learning
    run.metric("tsp_exact_accuracy", exact_accuracy(tours[beam_label], tsp_test.target))
    run.metric(
        "train_seconds",
        {"convex_hull": round(hull_history.seconds, 2), "tsp": round(tsp_history.seconds, 2)},
    )
    run.metric(
        "val_exact_accuracy_curve",
        {
            name: {
                "step": [e["step"] for e in h.evals],
                "accuracy": [e["val_exact_accuracy"] for e in h.evals],
            }
            for name, h in (("convex_hull", hull_history), ("tsp", tsp_history))
        },
    )
    run.metric("parameters", sum(p.numel() for p in hull_model.parameters()))

    run.check(CARD.claims[0], hull["test"]["exact_accuracy"])
    run.check(CARD.claims[1], hull["test"]["area_coverage"])
    run.check(CARD.claims[2], hull["generalize"]["area_coverage"])
    run.check(CARD.claims[3], ratio)

    _plot_hulls(run, {"test": hull_test, "generalize": far_test}, hull)
    _plot_tours(run, tsp_test, tours[beam_label], optimal, cfg.beam)


# ---- figures ----------------------------------------------------------------------------------------


def _closed(points: np.ndarray, order: list[int]) -> np.ndarray:
    return points[order + order[:1]] if order else points[:0]


def _plot_hulls(run: Run, tests: dict[str, PointerBatch], hull: dict) -> None:
    from landmarks.plots import plt

    columns = 4
    fig, axes = plt.subplots(2, columns, figsize=(12, 6.2))
    for row, label in enumerate(("test", "generalize")):
        test, result = tests[label], hull[label]
        for col in range(columns):
            ax = axes[row, col]
            n, k, m = int(test.n_points[col]), int(test.target_len[col]), int(result["lengths"][col])
            points = test.points[col, :n].numpy()
            true = _closed(points, test.target[col, :k].tolist())
            pred = _closed(points, result["predicted"][col, :m].tolist())
            ax.scatter(points[:, 0], points[:, 1], s=10, color="black", zorder=3)
            ax.plot(true[:, 0], true[:, 1], color="tab:green", lw=3, alpha=0.4, label="true hull")
            ax.plot(pred[:, 0], pred[:, 1], color="tab:blue", lw=1.2, ls="--", label="Ptr-Net")
            ok = result["predicted"][col, :m].tolist() == test.target[col, :k].tolist()
            ax.set_title(f"n = {n}: {'exact' if ok else 'differs'}", fontsize=9)
            ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), xticks=[], yticks=[], aspect="equal")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    run.save_figure(
        fig,
        "convex_hulls",
        "Held-out point sets: true hull (green) and the Ptr-Net's greedy output (blue, dashed). Top: "
        f"n = {hull['test']['n']}; bottom: n = {hull['generalize']['n']}, larger than any set seen in training.",
    )


def _plot_tours(run: Run, test: PointerBatch, tours: Tensor, optimal: Tensor, beam: int) -> None:
    from landmarks.plots import plt

    columns = 4
    fig, axes = plt.subplots(1, columns, figsize=(12, 3.3))
    for col, ax in enumerate(axes):
        points = test.points[col].numpy()
        true = _closed(points, test.target[col].tolist())
        pred = _closed(points, tours[col].tolist())
        ax.scatter(points[:, 0], points[:, 1], s=14, color="black", zorder=3)
        ax.plot(true[:, 0], true[:, 1], color="tab:green", lw=3, alpha=0.4, label="optimal")
        ax.plot(pred[:, 0], pred[:, 1], color="tab:blue", lw=1.2, ls="--", label=f"Ptr-Net (beam {beam})")
        length = float(tour_length(test.points[col], tours[col]))
        ax.set_title(f"{length:.3f} vs optimal {float(optimal[col]):.3f}", fontsize=9)
        ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), xticks=[], yticks=[], aspect="equal")
    axes[0].legend(fontsize=7, loc="lower left")
    run.save_figure(
        fig,
        "tsp_tours",
        "Held-out 5-city problems: the optimal tour (green, Held–Karp) and the Ptr-Net's beam-search tour (blue, dashed).",
    )
