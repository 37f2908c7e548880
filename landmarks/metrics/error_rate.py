"""Error rates of transcripts: the Levenshtein distance (the fewest insertions, deletions and
substitutions that turn one sequence into another), counted over characters (CER) or words
(WER) and divided by the length of the reference, summed over a corpus first as speech
papers report them (Deep Speech 2, Sec. 6)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["character_error_rate", "edit_distance", "word_error_rate"]


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """Levenshtein distance by dynamic programming, one row at a time."""
    previous = list(range(len(hypothesis) + 1))  # from the empty reference prefix: insertions
    for i, r in enumerate(reference, 1):
        current = [i]  # to the empty hypothesis prefix: deletions
        for j, h in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def _rate(pairs: list[tuple[Sequence, Sequence]]) -> float:
    edits = sum(edit_distance(r, h) for r, h in pairs)
    length = sum(len(r) for r, _ in pairs)
    if length == 0:
        raise ValueError("the references are empty: an error rate needs something to compare with")
    return edits / length


def character_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Σ edit distance over characters / Σ reference characters."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    return _rate(list(zip(references, hypotheses, strict=True)))


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Σ edit distance over whitespace-separated words / Σ reference words."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    return _rate([(r.split(), h.split()) for r, h in zip(references, hypotheses, strict=True)])
