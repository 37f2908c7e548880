"""In-context classification with label maps drawn per sequence, and a default map the model
can learn in its weights (Agarwal et al., 2024, Sec. 4, after Wei et al., 2023 and Kossen et
al., 2024): the toy for many-shot in-context learning and for flipped labels.

There are ``items`` inputs x (tokens ``0 .. items−1``) and ``classes`` labels y (tokens
``items .. items+classes−1``). One *default map* f₀: x → y is fixed by ``world``, for every
sequence: it plays the part of what pre-training taught a language model (the sentiment of a
review). A sequence is ``shots`` (x, y) pairs and a last query x, all under one label map::

    x₁ y₁ x₂ y₂ … x_K y_K x_{K+1}        (2K + 1 input tokens; K = shots)

and the targets are y₁ … y_{K+1}: the label after x_i is predicted from the i − 1 pairs before
it, so one sequence scores every shot count from 0 to K. Items are drawn uniformly with
replacement, so an item recurs in the context more often the more shots there are.

Which map a sequence uses (``labels``):

- ``"mixed"``, the meta-training mixture: each sequence draws a corruption rate r ~ U(0, 1)
  and relabels each item, with probability r, by a uniformly random label (which may be its
  default one). Within a sequence an item's label never changes. The best prediction is then
  the in-context label of an item already shown, and f₀ for an item not yet shown: the
  default map is a prior that the context overrides item by item.
- ``"default"``: f₀ itself.
- ``"random"``: a fresh uniformly random map per sequence; only the context can tell it.
- ``"flipped"``: f₀ with every label moved one class on, y → (y + 1) mod classes (with two
  classes, the paper's swapped labels): consistently wrong for the default map.

A task in ``landmarks.data.synthetic``'s sense: every batch a function of (seed, name, step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from landmarks.engine.seeding import torch_generator

__all__ = ["LABELINGS", "InContextClassification"]

LABELINGS = ("mixed", "default", "random", "flipped")


@dataclass(frozen=True)
class InContextClassification:
    items: int = 32
    classes: int = 4
    shots: int = 64  # (x, y) pairs before the last query: the context's limit
    world: int = 0  # fixes the default map f₀
    labels: Literal["mixed", "default", "random", "flipped"] = "mixed"

    def __post_init__(self) -> None:
        if self.classes < 2:
            raise ValueError(f"classes must be >= 2, got {self.classes}")
        if self.items < self.classes:
            raise ValueError(f"items ({self.items}) must be at least classes ({self.classes})")
        if self.shots < 1:
            raise ValueError(f"shots must be >= 1, got {self.shots}")
        if self.labels not in LABELINGS:
            raise ValueError(f"labels must be one of {', '.join(LABELINGS)}, got {self.labels!r}")

    @property
    def name(self) -> str:
        return f"icl-{self.items}-{self.classes}-{self.shots}-{self.labels}-w{self.world}"

    @property
    def vocab_size(self) -> int:
        return self.items + self.classes

    @property
    def sequence_length(self) -> int:
        """Input tokens per row: ``shots`` pairs and the last query."""
        return 2 * self.shots + 1

    @property
    def default_map(self) -> Tensor:
        """f₀ (items,): class of each item, every class used equally often (± 1)."""
        g = torch_generator(self.world, "default-map", self.items, self.classes)
        return torch.randperm(self.items, generator=g) % self.classes

    def flip(self, y: Tensor) -> Tensor:
        """The flipped label of class y."""
        return (y + 1) % self.classes

    def label_maps(self, n: int, generator: torch.Generator) -> Tensor:
        """(n, items): each sequence's label map under ``labels``."""
        f0 = self.default_map.expand(n, self.items)
        if self.labels == "default":
            return f0.clone()
        if self.labels == "flipped":
            return self.flip(f0)
        random_map = torch.randint(0, self.classes, (n, self.items), generator=generator)
        if self.labels == "random":
            return random_map
        r = torch.rand(n, 1, generator=generator)  # per-sequence corruption rate
        corrupted = torch.rand(n, self.items, generator=generator) < r
        return torch.where(corrupted, random_map, f0)

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Inputs (n, 2·shots + 1) token ids and targets (n, shots + 1), classes 0..classes−1."""
        maps = self.label_maps(n, generator)  # (n, items)
        x = torch.randint(0, self.items, (n, self.shots + 1), generator=generator)  # (n, K+1)
        y = maps.gather(1, x)  # (n, K+1)
        tokens = torch.stack([x, y + self.items], dim=2).flatten(1)  # x₁ y₁ x₂ y₂ … (n, 2K+2)
        return tokens[:, :-1], y  # the last label is the last query's target

    def queries(self, tokens: Tensor) -> Tensor:
        """(n, shots + 1): the item at each query position (x₁ … x_{K+1})."""
        return tokens[:, 0::2]

    @staticmethod
    def seen_before(x: Tensor) -> Tensor:
        """(n, K+1) bool: whether x_i already appeared among x₁ … x_{i−1} (its label was shown)."""
        same = x[:, :, None] == x[:, None, :]  # (n, i, j)
        earlier = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool, device=x.device).tril(-1)
        return (same & earlier).any(-1)
