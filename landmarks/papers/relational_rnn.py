"""Relational Recurrent Neural Networks (Santoro, Faulkner, Raposo, Rae, Chrzanowski, Weber,
Wierstra, Vinyals, Pascanu, Lillicrap, 2018).

An LSTM keeps what it has seen in one vector, updated piece by piece; nothing in it compares
one stored item with another. The Relational Memory Core (``landmarks.nn.relational_memory``)
keeps a few memory slots that attend to each other and to each new input at every step, so
comparing what it holds is what it does.

1. The N-th farthest task (Sec. 4.1): a sequence of K random vectors, shown one per step, each
   tagged with a random label; every step also carries the question, a reference label m and
   a rank n. After the last vector the model must answer: which vector (its label) is the
   n-th farthest from vector m? Answering needs the distances between all the vectors seen,
   ranked: relations between remembered items, not the items themselves.
2. ``reproduce`` trains the RMC and an LSTM on the same batches for the same number of steps,
   with the same readout MLP, and scores both on held-out questions, also split by rank n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.engine import Run, derive_seed, fit
from landmarks.nn.relational_memory import RelationalMemory
from landmarks.registry import Card, ClaimSpec

__all__ = [
    "CARD",
    "PRESETS",
    "Config",
    "NthFarthestModel",
    "nth_farthest_batch",
    "reproduce",
]

CARD = Card(
    citation=(
        "Adam Santoro, Ryan Faulkner, David Raposo, Jack Rae, Mike Chrzanowski, Théophane Weber, Daan "
        "Wierstra, Oriol Vinyals, Razvan Pascanu, Timothy Lillicrap. Relational Recurrent Neural "
        "Networks. NeurIPS 2018. arXiv:1806.01822."
    ),
    takeaways=[
        "A recurrent memory of several slots that interact through multi-head attention, at "
        "every step, can compare what it has stored; an LSTM's single vector does so poorly.",
        "The update is a Transformer block over [memory; input] followed by LSTM-style input and "
        "forget gates, so the core is still a recurrent cell that runs step by step.",
        "On the N-th farthest task, which is all relations between remembered vectors, the RMC "
        "reaches 91 % where an LSTM stays near 30 % (8 vectors: chance is 12.5 %, and 25 % needs "
        "no comparison).",
    ],
    claims=[
        ClaimSpec(
            "RMC minus LSTM test accuracy on the N-th farthest task, points",
            ">= 15",
            "Sec. 4.1 and Fig. 3: RMC 91 % against about 30 % for the LSTM (8 vectors of 16 numbers)",
        ),
    ],
    keeps=[
        "the N-th farthest task as the authors' code generates it: vectors uniform in [-1, 1], "
        "random labels, reference and rank one-hot on every step, the order shuffled, fresh "
        "questions every step",
        "the RMC: attention of the slots over [memory; input], residual, layer norm, row-wise MLP, "
        "per-unit input and forget gates (forget bias 1), identity-initialized memory",
        "the readout: an MLP on the final memory (or the LSTM's final state), then the label",
        "the same batches and the same number of steps for both models",
    ],
    shrinks=[
        "4 vectors of 4 numbers, the size of the authors' released example (paper: 8 of 16); "
        "chance is 25 %, and 50 % needs no comparison at all: answering the reference's own "
        "label when asked for it (n = 4) and guessing among the other three otherwise",
        "4 slots of 64 numbers and 4 heads (the released example: 4 slots, 4 heads of 2,048 "
        "numbers each, 4 attention blocks); the readout MLP 2 layers of 128 (paper: 4 of 256)",
        "batches of 128 for 8,000 Adam steps at 10⁻³ (the released example: batches of 1,600 "
        "for up to 10⁶ steps at 10⁻⁴)",
    ],
    figures={
        "Sec. 3, Eq. 2-3": "M̃ = softmax(M W^q ([M; x] W^k)ᵀ / √d_k) [M; x] W^v, per head",
        "Sec. 4.1, Fig. 3": "N-th farthest: RMC 91 % test accuracy, LSTM and DNC about 30 %",
    },
    notes=(
        "Not reproduced at this budget. Both models learn by step 500 (the first evaluation) to "
        "answer the reference's own label when asked for it, and then stay at the 50 % that this "
        "gives (50 to 52 % on seeds 0-2): neither ranks distances within 8,000 steps. In "
        "development runs the RMC stayed there for 20,000 steps at 4 vectors in 2-D, and both it "
        "and the LSTM stayed there at 3 vectors in 1-D "
        "(farther of two numbers), where an MLP that sees the whole sequence at once reaches "
        "95 % in 4,000 steps: the hard part is learning to store and then compare, not the "
        "comparison. This plateau is what others met too: a PyTorch port of the RMC reports "
        "N-th farthest accuracy stuck at 25 % (8 vectors) for a day of GPU training, breaking "
        "out to 91 % only after about 5 days (L0SG/relational-rnn-pytorch, PR 2 and issue 3). "
        "The gating follows the authors' released core (Sonnet's RelationalMemory): input and "
        "forget gates from x_t and tanh(M), M_t = i ⊙ tanh(M̂) + f ⊙ M_{t−1}, with no output "
        "gate; the paper's text also describes an output gate. The queries come from the memory "
        "only and the keys and values from [M; x], as in Eq. 2-3; the released code lets the "
        "input row attend too and then drops it, which gives the slots the same result."
    ),
)


@dataclass(frozen=True)
class Config:
    objects: int = 4
    features: int = 4
    slots: int = 4
    width: int = 64
    heads: int = 4
    blocks: int = 1
    lstm_hidden: int = 256
    readout: int = 128
    batch: int = 128
    steps: int = 8000
    lr: float = 1e-3
    clip_norm: float = 1.0
    test_size: int = 4096
    eval_every: int = 500

    def validate(self) -> None:
        for name in ("features", "blocks", "lstm_hidden", "readout", "batch", "steps", "test_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.objects < 2:
            raise ValueError(f"objects must be >= 2 (a farthest needs two vectors), got {self.objects}")
        if self.slots < 1:
            raise ValueError(f"slots must be >= 1 (a memory of no slots holds nothing), got {self.slots}")
        if self.heads < 1 or self.width < 1 or self.width % self.heads:
            raise ValueError(
                f"width ({self.width}) must be a positive multiple of heads ({self.heads}): "
                "each head gets width / heads numbers"
            )
        if self.lr <= 0 or self.clip_norm <= 0:
            raise ValueError(f"lr and clip_norm must be > 0, got {self.lr} and {self.clip_norm}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0 (0: off), got {self.eval_every}")


PRESETS = {
    "default": Config(),
    "quick": Config(
        objects=3,
        features=2,
        slots=2,
        width=8,
        heads=2,
        lstm_hidden=8,
        readout=8,
        batch=8,
        steps=4,
        test_size=16,
        eval_every=2,
    ),
}


# ---- the N-th farthest task (Sec. 4.1) ------------------------------------------------------------


def nth_farthest_batch(
    generator: torch.Generator, batch: int, objects: int, features: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Inputs (B, K, features + 3K), answers (B,) and ranks n (B,), n = 0 for the farthest.

    Row t of a sequence is [vector, its label one-hot, reference label one-hot, rank one-hot]:
    the question rides along on every step. The answer is the label of the vector that is the
    (n + 1)-th farthest from the reference (n = K − 1 asks for the reference itself).
    """
    k = objects
    vectors = torch.rand(batch, k, features, generator=generator) * 2 - 1
    labels = torch.rand(batch, k, generator=generator).argsort(-1)  # a random label per vector
    reference = torch.randint(0, k, (batch,), generator=generator)  # which vector, by position
    rank = torch.randint(0, k, (batch,), generator=generator)
    rows = torch.arange(batch)
    distances = torch.cdist(vectors[rows, reference][:, None], vectors)[:, 0]  # (B, K)
    by_distance = distances.argsort(-1, descending=True)  # farthest first; the reference is last
    answer = labels[rows, by_distance[rows, rank]]
    eye = torch.eye(k)
    inputs = torch.cat(
        [
            vectors,
            eye[labels],
            eye[labels[rows, reference]][:, None].expand(-1, k, -1),
            eye[rank][:, None].expand(-1, k, -1),
        ],
        -1,
    )
    return inputs, answer, rank


class NthFarthestModel(nn.Module):
    """A recurrent core ("RMC" or "LSTM") reads the sequence; an MLP on its final state answers."""

    def __init__(self, core: str, cfg: Config) -> None:
        super().__init__()
        inputs = cfg.features + 3 * cfg.objects
        if core == "RMC":
            self.core: nn.Module = RelationalMemory(inputs, cfg.slots, cfg.width, cfg.heads, cfg.blocks)
            state = cfg.slots * cfg.width
        elif core == "LSTM":
            self.core = nn.LSTM(inputs, cfg.lstm_hidden, batch_first=True)
            state = cfg.lstm_hidden
        else:
            raise ValueError(f"core must be 'RMC' or 'LSTM', got {core!r}")
        self.readout = nn.Sequential(
            nn.Linear(state, cfg.readout),
            nn.ReLU(),
            nn.Linear(cfg.readout, cfg.readout),
            nn.ReLU(),
            nn.Linear(cfg.readout, cfg.objects),
        )

    def forward(self, inputs: Tensor) -> Tensor:
        outputs = self.core(inputs)[0]  # (B, T, state)
        return self.readout(outputs[:, -1])


# ---- the experiment -------------------------------------------------------------------------------


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()

    def batch_fn(step: int) -> tuple[Tensor, Tensor]:  # the same fresh questions for both models
        x, y, _ = nth_farthest_batch(run.generator("train", step), cfg.batch, cfg.objects, cfg.features)
        return x.to(run.device), y.to(run.device)

    def loss_fn(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y)

    test_x, test_y, test_rank = nth_farthest_batch(
        run.generator("test"), cfg.test_size, cfg.objects, cfg.features
    )
    test_x, test_y = test_x.to(run.device), test_y.to(run.device)

    def correct(model: nn.Module) -> Tensor:
        with torch.no_grad():
            return (model(test_x).argmax(-1) == test_y).float().cpu()

    def eval_fn(model: nn.Module) -> dict[str, float]:
        return {"accuracy": float(correct(model).mean())}

    models: dict[str, NthFarthestModel] = {}
    histories, accuracy, by_rank = {}, {}, {}
    for name in ("RMC", "LSTM"):
        torch.manual_seed(derive_seed(run.seed, run.paper, name, "init"))
        model = NthFarthestModel(name, cfg).to(run.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        histories[name] = fit(
            run,
            name.lower(),
            model,
            optimizer,
            steps=cfg.steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            clip_norm=cfg.clip_norm,
            eval_fn=eval_fn,
            eval_every=cfg.eval_every,
        )
        models[name] = model.eval()
        hits = correct(model)
        accuracy[name] = float(hits.mean())
        by_rank[name] = [float(hits[test_rank == n].mean()) for n in range(cfg.objects)]
        run.log(f"{name}: test accuracy {accuracy[name]:.3f} ({histories[name].seconds:.0f} s)")

    run.metric("test_accuracy", accuracy)
    run.metric("chance", 1 / cfg.objects)
    # Answering the reference's label when asked for the reference (n = K), guessing among the
    # other K − 1 labels otherwise: 1/K + (K − 1)/K · 1/(K − 1) = 2/K, with no comparison made.
    run.metric("without_comparing", 2 / cfg.objects)
    run.metric("accuracy_by_rank", by_rank)
    for name, h in histories.items():
        run.metric(f"{name.lower()}_train_seconds", round(h.seconds, 2))
        run.metric(f"{name.lower()}_parameters", sum(p.numel() for p in models[name].parameters()))
        run.metric(
            f"{name.lower()}_curve",
            {"step": [e["step"] for e in h.evals], "accuracy": [e["accuracy"] for e in h.evals]},
        )
    run.check(CARD.claims[0], 100 * (accuracy["RMC"] - accuracy["LSTM"]))

    _plot(run, cfg, histories, by_rank)


def _plot(run: Run, cfg: Config, histories: dict, by_rank: dict[str, list[float]]) -> None:
    from landmarks.plots import plt

    fig, (curve_ax, rank_ax) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, h in histories.items():
        curve_ax.plot([e["step"] for e in h.evals], [e["accuracy"] for e in h.evals], label=name)
    curve_ax.axhline(1 / cfg.objects, color="grey", ls=":", label="chance")
    curve_ax.axhline(2 / cfg.objects, color="grey", ls="--", label="no comparison needed")
    curve_ax.set_xlabel("training step")
    curve_ax.set_ylabel("test accuracy")
    curve_ax.set_ylim(0, 1)
    curve_ax.set_title(f"N-th farthest of {cfg.objects} vectors in {cfg.features}-D")
    curve_ax.legend(fontsize=8)
    width = 0.8 / len(by_rank)
    ranks = np.arange(cfg.objects)
    for i, (name, acc) in enumerate(by_rank.items()):
        rank_ax.bar(ranks + (i + 0.5) * width - 0.4, acc, width, label=name)
    rank_ax.set_xticks(ranks, [f"{n + 1}" for n in ranks])
    rank_ax.set_xlabel(f"n: which farthest ({cfg.objects} is the reference itself)")
    rank_ax.set_ylabel("test accuracy")
    rank_ax.set_ylim(0, 1)
    rank_ax.legend(fontsize=8)
    run.save_figure(fig, "accuracy", "Test accuracy while training, and by the rank asked for")
