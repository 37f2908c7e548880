"""Passkey retrieval (Mohtashami, Jaggi, 2023), as TransformerFAM tests working memory.

A sequence is filler with a passkey hidden in it, and a question at the end:

    f f f ... f  <key> d₁ d₂ … d_k  f f ... f  <ask> d₁ d₂ … d_k

The filler is drawn at random from ``filler`` symbols, the k digits uniformly. Each place of the
key writes its digit with its own ten symbols (d₁ from the first ten, d₂ from the next, ...), so
a key is five fields, each holding one of ten values: a memory has to keep what each field
holds, not also their order (a toy's simplification: see ``transformer-fam``'s card). The model is
scored on the digits after ``<ask>`` only, and retrieves the key when it writes all k right
(teacher-forced and greedy are the same test: the greedy answer is right exactly when every
teacher-forced prediction is). ``distance`` is how far back the key starts, counted from
``<ask>``: a model that attends only the last w tokens cannot see a key further back than w.
Every batch is a function of (seed, name, step), as in ``landmarks.data.synthetic``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["IGNORE", "PasskeyTask", "passkey_accuracy"]

IGNORE = -100  # cross_entropy's ignore_index: every position but the answer's digits


@dataclass(frozen=True)
class PasskeyTask:
    length: int
    digits: int = 5
    filler: int = 10

    def __post_init__(self) -> None:
        if self.digits < 1 or self.filler < 1:
            raise ValueError(f"digits and filler must be >= 1, got {self.digits}, {self.filler}")
        if self.length < 2 * (self.digits + 1) + 1:
            raise ValueError(
                f"a sequence of {self.length} tokens cannot hold the key and the question "
                f"({2 * (self.digits + 1)} tokens) and some filler"
            )

    @property
    def vocab_size(self) -> int:
        return self.filler + 10 * self.digits + 2

    @property
    def key(self) -> int:
        return self.filler + 10 * self.digits

    @property
    def ask(self) -> int:
        return self.key + 1

    @property
    def ask_position(self) -> int:
        return self.length - self.digits - 1

    @property
    def max_distance(self) -> int:
        """The furthest back a key can start: at position 0."""
        return self.ask_position

    def batch(
        self, size: int, generator: torch.Generator, distance: Tensor | int | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Inputs x (B, length), targets y (B, length) with ``IGNORE`` but at the answer, and the
        distance (B,) from each key to the question. ``distance`` fixes it; else it is uniform
        over every place the key fits."""
        k, ask = self.digits, self.ask_position
        lowest = k + 1  # the key's last digit right before <ask>
        if distance is None:
            dist = torch.randint(lowest, self.max_distance + 1, (size,), generator=generator)
        else:
            dist = torch.as_tensor(distance).expand(size).clone()
            if bool(((dist < lowest) | (dist > self.max_distance)).any()):
                raise ValueError(f"a key fits at distances {lowest}..{self.max_distance} from the question")
        x = torch.randint(0, self.filler, (size, self.length), generator=generator)
        code = torch.randint(0, 10, (size, k), generator=generator) + self.filler + 10 * torch.arange(k)
        rows = torch.arange(size)[:, None]
        start = (ask - dist)[:, None]
        x[rows, start] = self.key
        x[rows, start + 1 + torch.arange(k)] = code
        x[:, ask] = self.ask
        x[:, ask + 1 :] = code
        y = torch.full_like(x, IGNORE)
        y[:, ask : ask + k] = code  # at <ask> predict d₁, at d_i predict d_{i+1}
        return x, y, dist


def passkey_accuracy(logits: Tensor, y: Tensor) -> Tensor:
    """(B,) bool: every digit of the answer right."""
    scored = y != IGNORE
    right = (logits.argmax(-1) == y) | ~scored
    return right.all(dim=1)
