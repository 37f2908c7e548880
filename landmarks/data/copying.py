"""String copying (Jelassi et al., 2024, Sec. 4): read a random string, then write it again.

A sequence is ``<bos> s <copy> s`` with s drawn uniformly from ``alphabet`` letters, of a
length drawn uniformly from [``min_length``, ``max_length``], padded at the end. The model is
scored only on the second s: the target at ``<copy>`` is s_0, at the copy of s_i it is s_{i+1}.
Teacher-forced and greedy copying are the same test here: greedy decoding writes s exactly iff
every teacher-forced prediction of the copy is right, so string accuracy needs one forward pass.

A task in ``landmarks.data.synthetic``'s sense: every batch a function of (seed, name, step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["IGNORE", "CopyTask", "ngram_lookup_copies", "string_accuracy"]

IGNORE = -100  # cross_entropy's ignore_index: positions that are not part of the copy


@dataclass(frozen=True)
class CopyTask:
    min_length: int
    max_length: int
    alphabet: int = 26

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError(
                f"string lengths need 1 <= min_length <= max_length, got {self.min_length}, {self.max_length}"
            )
        if self.alphabet < 2:
            raise ValueError(f"the alphabet needs at least 2 letters, got {self.alphabet}")

    @property
    def name(self) -> str:
        return f"copy-{self.min_length}-{self.max_length}-{self.alphabet}"

    @property
    def bos(self) -> int:
        return self.alphabet

    @property
    def copy(self) -> int:
        return self.alphabet + 1

    @property
    def pad(self) -> int:
        return self.alphabet + 2

    @property
    def vocab_size(self) -> int:
        return self.alphabet + 3

    @property
    def sequence_length(self) -> int:
        """Tokens per input row: <bos>, the string, <copy>, the copy without its last letter."""
        return 2 * self.max_length + 1

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Inputs (n, 2·max_length + 1) and targets, ``IGNORE`` outside the copy."""
        lengths = torch.randint(self.min_length, self.max_length + 1, (n,), generator=generator)
        letters = torch.randint(0, self.alphabet, (n, self.max_length), generator=generator)
        pos = torch.arange(self.max_length)
        letters = torch.where(pos < lengths[:, None], letters, self.pad)
        full = torch.full((n, 2 * self.max_length + 2), self.pad)
        full[:, 0] = self.bos
        full[:, 1 : self.max_length + 1] = letters
        # the copy starts right after each string: <copy> at 1 + length, then the letters again
        rows = torch.arange(n)[:, None]
        full[rows[:, 0], 1 + lengths] = self.copy
        cols = 2 + lengths[:, None] + pos  # where letter i of the copy goes
        inside = pos < lengths[:, None]
        full[rows.expand_as(cols)[inside], cols[inside]] = letters[inside]
        x, y = full[:, :-1], full[:, 1:].clone()
        # score only the copy: targets from <copy> (predicting s_0) to the one predicting s_last
        t = torch.arange(y.shape[1])
        scored = (t >= (1 + lengths)[:, None]) & (t < (1 + 2 * lengths)[:, None])
        y[~scored] = IGNORE
        return x, y


def string_accuracy(logits: Tensor, targets: Tensor) -> Tensor:
    """Per row, 1.0 if every scored position's argmax is right (the whole copy exact)."""
    right = (logits.argmax(-1) == targets) | (targets == IGNORE)
    return right.all(-1).float()


def ngram_lookup_copies(x: Tensor, task: CopyTask, n: int) -> Tensor:
    """Per row of inputs ``x``, 1.0 if copying by n-gram lookup gets the whole string right.

    The lookup is the copying algorithm of Jelassi et al. (Sec. 2.2, Fig. 3): to write the next
    letter, find where the last n letters written (padded with <bos> at the start) occur in the
    string and write the letter after them. It fails exactly when some n-gram of the string is
    followed by two different letters (the end of the string is not scored), so this is the
    ceiling of a model that copies by hashing n-grams, whatever else it learned.
    """
    out = []
    for row in x.tolist():
        end = row.index(task.copy)
        string = row[1:end]
        padded = [task.bos] * n + string
        after: dict[tuple[int, ...], set[int]] = {}
        for i in range(len(string)):  # the n letters before position i, and the letter there
            after.setdefault(tuple(padded[i : i + n]), set()).add(string[i])
        out.append(float(all(len(v) == 1 for v in after.values())))
    return torch.tensor(out)
