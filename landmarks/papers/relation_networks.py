"""A Simple Neural Network Module for Relational Reasoning (Santoro, Raposo, Barrett, Malinowski,
Pascanu, Battaglia, Lillicrap, 2017).

A Relation Network is one equation (Eq. 1):

    RN(O) = f_φ( Σ_{i,j} g_θ(o_i, o_j, q) )

g looks at every pair of objects (with the question), f reads the sum. The sum over all pairs
builds in that relations between objects matter, and that their order does not.

On images (Sec. 4), the "objects" are the cells of a CNN's last feature map, each tagged with
its coordinates: no object detector is needed. ``reproduce`` trains the RN and the paper's
CNN + MLP baseline on Sort-of-CLEVR (``landmarks.data.sort_of_clevr``) and scores both on the
relational and the non-relational questions apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.data.sort_of_clevr import (
    ANSWERS,
    COLOURS,
    QUESTION_SIZE,
    QUESTION_TYPES,
    SortOfClevr,
    generate_sort_of_clevr,
)
from landmarks.engine import Run, fit
from landmarks.engine.optim import fused_available
from landmarks.registry import Card, ClaimSpec

__all__ = ["CARD", "CNNMLP", "PRESETS", "Config", "RelationNetwork", "object_features", "reproduce"]

CARD = Card(
    citation=(
        "Adam Santoro, David Raposo, David G. T. Barrett, Mateusz Malinowski, Razvan Pascanu, Peter "
        "Battaglia, Timothy Lillicrap. A Simple Neural Network Module for Relational Reasoning. "
        "NeurIPS 2017. arXiv:1706.01427."
    ),
    takeaways=[
        "A Relation Network applies one MLP g to every pair of objects and sums: RN(O) = "
        "f(Σ_ij g(o_i, o_j, q)). Relations are built in, and so is indifference to order.",
        "Objects need not be given: the cells of a CNN feature map, tagged with coordinates, serve.",
        "On questions about relations between objects a CNN + MLP fails where the RN succeeds; "
        "on questions about single objects both do well.",
    ],
    claims=[
        ClaimSpec(
            "RN accuracy on relational questions (closest, farthest, count)",
            ">= 0.85",
            "Sec. 5.3, Sort-of-CLEVR: the RN above 94 % on relational questions",
        ),
        ClaimSpec(
            "RN minus CNN + MLP accuracy on relational questions, points",
            ">= 15",
            "Sec. 5.3: above 94 % against 63 % for the CNN + MLP",
        ),
        ClaimSpec(
            "the lower of the two models' accuracies on non-relational questions",
            ">= 0.9",
            "Sec. 5.3: both models above 94 % on non-relational questions",
        ),
    ],
    keeps=[
        "Eq. 1 on CNN feature-map cells tagged with coordinates, the question concatenated to "
        "every pair, the sum over all ordered pairs, f with dropout",
        "Sort-of-CLEVR as in the paper: 6 coloured squares and circles, 3 non-relational and 3 "
        "relational question kinds, the 11-bit question encoding",
        "the CNN + MLP baseline on the same CNN features",
    ],
    shrinks=[
        "32 × 32 images (paper: 75 × 75), a 4 × 4 feature map (16 objects, 256 pairs)",
        "g of 3 layers of 128 and f of 2, Adam at 10⁻³ (paper, Sort-of-CLEVR: g of 4 layers of "
        "2,000, f of 4 layers of 2,000 to 100 and an output layer, Adam at 10⁻⁴)",
        "5,000 steps of 64 questions for each model (reimplementations train for about 20 "
        "epochs of 3,000 such steps)",
    ],
    figures={
        "Eq. 1": "RN(O) = f_φ(Σ_{i,j} g_θ(o_i, o_j))",
        "Sec. 5.3, Sort-of-CLEVR": "RN 94 % relational, CNN + MLP 63 %; both > 90 % non-relational",
    },
    notes=(
        "Not reproduced at this budget. In 5,000 steps (222 to 273 s of RN training on seeds 0-2, "
        "on the normal-speed host and the slow AMD one; each run's seconds are in RESULTS.md) "
        "both models learn the "
        "counting question and the shape questions in part (about 64 to 83 %, against 50 % for a "
        "guess at a shape and 31 % for the commonest count), and stay at chance on left or right "
        "and top or bottom: the network has not yet learned to pick out the object of the "
        "colour asked about, which every other question needs first. Also tried, on seed 0 "
        "with images drawn fresh every step: Adam at 2.5 × 10⁻⁴ and 3 × 10⁻³, the CNN without "
        "batch norm, with a stride-1 first layer, or with average pooling in place of strides, "
        "all six question kinds of an image in one batch, and even colour averages over each "
        "cell in place of the CNN. Each left the RN on that plateau for as long as the budget "
        "allows, while an RN asked only left-or-right questions solves them (98 % in 1,500 "
        "steps at 3 × 10⁻³): the difficulty is the mixture of questions, not the pairs. "
        "Reimplementations report the same slowness: about 73 % relational and 72 % "
        "non-relational after 10 epochs, 84 % and 93 % after 20 (kimhc6028/relational-networks, "
        "issues 1 and 31): some 60,000 steps, about 45 to 55 minutes of RN training on these two "
        "cores at the pace of the runs of seeds 0-2. "
        "A development run on seed 0 with --set steps=40000 (26 minutes, 2026-11-26): the RN "
        "leaves the plateau, "
        "0.896 non-relational (left or right 0.856, shape 0.954) and 0.767 relational, while the "
        "CNN + MLP reaches 0.736 and 0.749; still short of 0.85 and of the 15-point gap. "
        "The first layer of g is linear in the concatenation [o_i; o_j; q], so it is computed as "
        "W₁o_i + W₂o_j + W₃q with each term once per object and broadcast over the pairs, which "
        "is the same function at a sixteenth of the cost (a test checks it against the pair-by-"
        "pair sum). The pairs include i = j: Eq. 1 sums over all i and j, and reimplementations "
        "(kimhc6028/relational-networks) do the same. Both models share "
        "the CNN design (4 convolutions of 24 channels with batch norm) and see the same batches."
    ),
)


@dataclass(frozen=True)
class Config:
    images: int = 10_000
    test_images: int = 1_000
    size: int = 32
    questions_per_kind: int = 2  # per image: 12 questions
    channels: int = 24
    g_width: int = 128
    f_width: int = 128
    batch: int = 64
    steps: int = 5000
    lr: float = 1e-3
    eval_every: int = 500

    def validate(self) -> None:
        for name in (
            "images",
            "test_images",
            "questions_per_kind",
            "channels",
            "g_width",
            "f_width",
            "batch",
            "steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.size < 16 or self.size % 8:
            raise ValueError(
                f"size must be a multiple of 8 and >= 16 (three halvings to the object grid), got {self.size}"
            )
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0 (0: off), got {self.eval_every}")


PRESETS = {
    "default": Config(),
    "quick": Config(
        images=64, test_images=16, channels=8, g_width=16, f_width=16, batch=8, steps=4, eval_every=2
    ),
}


# ---- the models ----------------------------------------------------------------------------------


class ConvObjects(nn.Module):
    """The CNN of Sec. 4: 4 convolutions (3 halving the resolution) with batch norm and ReLU;
    (B, 3, S, S) → (B, C, S/8, S/8)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, stride in enumerate((2, 2, 2, 1)):
            layers += [
                nn.Conv2d(3 if i == 0 else channels, channels, 3, stride, 1),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
            ]
        self.net = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)


def object_features(maps: Tensor) -> Tensor:
    """Feature-map cells as objects, each tagged with its (x, y) in [−1, 1]: (B, C, h, w) →
    (B, h·w, C + 2)."""
    b, _, h, w = maps.shape
    ys, xs = torch.meshgrid(
        torch.linspace(-1, 1, h, device=maps.device),
        torch.linspace(-1, 1, w, device=maps.device),
        indexing="ij",
    )
    coords = torch.stack([xs, ys]).expand(b, 2, h, w)
    return torch.cat([maps, coords], 1).flatten(2).transpose(1, 2)


class RelationNetwork(nn.Module):
    """RN(O) = f(Σ_{i,j} g(o_i, o_j, q)) over the CNN's cells (Eq. 1)."""

    def __init__(self, channels: int, g_width: int, f_width: int, answers: int = len(ANSWERS)) -> None:
        super().__init__()
        self.cnn = ConvObjects(channels)
        d = channels + 2
        # g's first layer on [o_i; o_j; q], split into its three blocks (see the card's notes).
        self.g_first = nn.Linear(2 * d + QUESTION_SIZE, g_width)
        self.g_rest = nn.Sequential(
            nn.ReLU(), nn.Linear(g_width, g_width), nn.ReLU(), nn.Linear(g_width, g_width), nn.ReLU()
        )
        self.f = nn.Sequential(
            nn.Linear(g_width, f_width), nn.ReLU(), nn.Dropout(0.5), nn.Linear(f_width, answers)
        )
        self.d = d

    def pair_inputs(self, objects: Tensor, question: Tensor) -> Tensor:
        """g's first layer for every ordered pair (i, j): (B, n, n, g_width)."""
        w = self.g_first.weight
        first = objects @ w[:, : self.d].T  # W₁ o_i  (B, n, g)
        second = objects @ w[:, self.d : 2 * self.d].T  # W₂ o_j  (B, n, g)
        asked = question @ w[:, 2 * self.d :].T + self.g_first.bias  # W₃ q + b  (B, g)
        return first[:, :, None] + second[:, None, :] + asked[:, None, None]

    def relate(self, objects: Tensor, question: Tensor) -> Tensor:
        """Eq. 1 on any set of objects (B, n, C + 2): logits (B, answers)."""
        relations = self.g_rest(self.pair_inputs(objects, question))  # g for every pair  (B, n, n, g)
        return self.f(relations.sum((1, 2)))  # f(Σ_ij g)

    answer = relate  # what the model makes of what it sees, for one question

    def see(self, images: Tensor) -> Tensor:
        """The objects (B, n, C + 2), computed once per image however many questions follow."""
        return object_features(self.cnn(images))

    def forward(self, images: Tensor, question: Tensor) -> Tensor:
        return self.answer(self.see(images), question)


class CNNMLP(nn.Module):
    """The baseline of Sec. 5.3 (supplement D): the same CNN, its whole feature map flattened
    with the question, then an MLP."""

    def __init__(self, channels: int, size: int, width: int, answers: int = len(ANSWERS)) -> None:
        super().__init__()
        self.cnn = ConvObjects(channels)
        cells = (size // 8) ** 2
        self.mlp = nn.Sequential(
            nn.Linear(channels * cells + QUESTION_SIZE, 2 * width),
            nn.ReLU(),
            nn.Linear(2 * width, 2 * width),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(2 * width, answers),
        )

    def see(self, images: Tensor) -> Tensor:
        return self.cnn(images).flatten(1)

    def answer(self, seen: Tensor, question: Tensor) -> Tensor:
        return self.mlp(torch.cat([seen, question], 1))

    def forward(self, images: Tensor, question: Tensor) -> Tensor:
        return self.answer(self.see(images), question)


# ---- the experiment -------------------------------------------------------------------------------


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    train = generate_sort_of_clevr(run.rng("train"), cfg.images, cfg.size, cfg.questions_per_kind)
    test = generate_sort_of_clevr(run.rng("test"), cfg.test_images, cfg.size, cfg.questions_per_kind)
    q = train.questions.shape[1]

    def batch_fn(step: int) -> tuple[Tensor, Tensor, Tensor]:
        g = run.generator("batch", step)
        image = torch.randint(0, cfg.images, (cfg.batch,), generator=g)
        which = torch.randint(0, q, (cfg.batch,), generator=g)
        return (
            train.images[image].to(run.device),
            train.questions[image, which].to(run.device),
            train.answers[image, which].to(run.device),
        )

    def loss_fn(model: nn.Module, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        images, questions, answers = batch
        return F.cross_entropy(model(images, questions), answers)

    def accuracy_by_kind(model: RelationNetwork | CNNMLP) -> np.ndarray:
        right = torch.zeros(len(QUESTION_TYPES))
        total = torch.zeros(len(QUESTION_TYPES))
        with torch.no_grad():
            for start in range(0, cfg.test_images, 100):
                seen = model.see(test.images[start : start + 100].to(run.device))  # the CNN once
                for k in range(q):
                    question = test.questions[start : start + 100, k].to(run.device)
                    pred = model.answer(seen, question).argmax(-1).cpu()
                    kinds = test.kinds[start : start + 100, k]
                    hit = (pred == test.answers[start : start + 100, k]).float()
                    right.index_add_(0, kinds, hit)
                    total.index_add_(0, kinds, torch.ones_like(hit))
        return (right / total).numpy()

    def eval_fn(model: RelationNetwork | CNNMLP) -> dict[str, float]:
        acc = accuracy_by_kind(model)
        return {"non_relational": float(acc[:3].mean()), "relational": float(acc[3:].mean())}

    models = {
        "RN": RelationNetwork(cfg.channels, cfg.g_width, cfg.f_width),
        "CNN+MLP": CNNMLP(cfg.channels, cfg.size, cfg.f_width),
    }
    by_kind, histories = {}, {}
    for name, model in models.items():
        model.to(run.device)
        # Adam on torch's fused kernel where this build has one: the same update, one pass
        optimizer = torch.optim.Adam(
            model.parameters(), lr=cfg.lr, fused=True if fused_available(run.device) else None
        )
        histories[name] = fit(
            run,
            name.lower().replace("+", "-"),
            model,
            optimizer,
            steps=cfg.steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            eval_fn=eval_fn,
            eval_every=cfg.eval_every,
        )
        model.eval()
        by_kind[name] = accuracy_by_kind(model)
        run.log(
            f"{name}: non-relational {by_kind[name][:3].mean():.3f}, relational {by_kind[name][3:].mean():.3f} "
            f"({histories[name].seconds:.0f} s)"
        )

    rel = {name: float(acc[3:].mean()) for name, acc in by_kind.items()}
    nonrel = {name: float(acc[:3].mean()) for name, acc in by_kind.items()}
    run.metric(
        "accuracy_by_question",
        {
            name: dict(zip([t[1] for t in QUESTION_TYPES], acc.tolist(), strict=True))
            for name, acc in by_kind.items()
        },
    )
    run.metric("relational_accuracy", rel)
    run.metric("non_relational_accuracy", nonrel)
    names = list(by_kind)
    run.table(
        "accuracy_by_question",
        ["question", "kind", *names],
        [
            [label, kind, *(float(by_kind[n][i]) for n in names)]
            for i, (kind, label) in enumerate(QUESTION_TYPES)
        ]
        + [
            ["mean", "non-relational", *(nonrel[n] for n in names)],
            ["mean", "relational", *(rel[n] for n in names)],
        ],
        "Test accuracy by question type on Sort-of-CLEVR: the RN and the CNN + MLP baseline",
    )
    for name, h in histories.items():
        run.metric(f"{name}_train_seconds", round(h.seconds, 2))
        run.metric(f"{name}_parameters", sum(p.numel() for p in models[name].parameters()))
    run.check(CARD.claims[0], rel["RN"])
    run.check(CARD.claims[1], 100 * (rel["RN"] - rel["CNN+MLP"]))
    run.check(CARD.claims[2], min(nonrel.values()))

    _plot(run, train, by_kind, histories)


def _plot(run: Run, data: SortOfClevr, by_kind: dict[str, np.ndarray], histories: dict) -> None:
    from landmarks.plots import plt

    fig, axes = plt.subplots(2, 4, figsize=(12, 6.5))
    for i, ax in enumerate(axes.flat):
        ax.imshow(data.images[i].permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        lines = []
        for k in (0, 3 * data.questions.shape[1] // 6, 5 * data.questions.shape[1] // 6):
            qv = data.questions[i, k]
            colour = list(COLOURS)[int(qv[:6].argmax())]
            kind = QUESTION_TYPES[int(data.kinds[i, k])][1]
            lines.append(f"{colour}: {kind}? {ANSWERS[int(data.answers[i, k])]}")
        ax.set_title("\n".join(lines), fontsize=7)
    run.save_figure(fig, "samples", "Sort-of-CLEVR: images with questions and answers")

    fig, (bar_ax, curve_ax) = plt.subplots(1, 2, figsize=(13, 4.2))
    names = [t[1] for t in QUESTION_TYPES]
    width = 0.8 / len(by_kind)
    for i, (name, acc) in enumerate(by_kind.items()):
        bar_ax.bar(np.arange(len(names)) + (i + 0.5) * width - 0.4, acc, width, label=name)
    bar_ax.set_xticks(range(len(names)), [n.replace(" of the ", "\nof the ") for n in names], fontsize=7)
    bar_ax.axvline(2.5, color="grey", lw=0.8)
    bar_ax.set_ylim(0, 1)
    bar_ax.set_ylabel("test accuracy")
    bar_ax.set_title("non-relational | relational")
    bar_ax.legend(fontsize=8)
    for name, h in histories.items():
        steps = [e["step"] for e in h.evals]
        curve_ax.plot(steps, [e["relational"] for e in h.evals], label=f"{name}, relational")
        curve_ax.plot(steps, [e["non_relational"] for e in h.evals], "--", label=f"{name}, non-relational")
    curve_ax.set_xlabel("training step")
    curve_ax.set_ylabel("test accuracy")
    curve_ax.legend(fontsize=8)
    run.save_figure(fig, "accuracy", "Accuracy by question kind, and while training")
