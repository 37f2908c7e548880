"""ROUGE (Lin, 2004), as Google's ``rouge-score`` package computes it (equal to it, tested).

Text is lower-cased, every run of characters outside a-z and 0-9 becomes a space, and the
tokens are what is left (optionally Porter-stemmed when longer than 3 characters: that needs
``nltk``). Then, for a hypothesis against a reference:

- **ROUGE-N**: n-grams in common (each clipped by its count on the other side);
  precision = common / hypothesis n-grams, recall = common / reference n-grams.
- **ROUGE-L**: the longest common subsequence of tokens (Sec. 3.1); precision = LCS /
  hypothesis length, recall = LCS / reference length.
- **ROUGE-Lsum**: summary-level LCS (Sec. 3.2): the text split into sentences at newlines;
  for each reference sentence, the union of its LCS with every hypothesis sentence; the hits
  summed, each token counted at most as often as it occurs on both sides (ROUGE 1.5.5's rule).
  Which of several longest subsequences is taken matters for the union: ties in the
  backtrack move along the hypothesis first, as ROUGE 1.5.5 and rouge-score do.

F = 2PR / (P + R). Every score is a (precision, recall, F) triple in [0, 1].
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RougeScore", "rouge", "rouge_tokens"]

_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class RougeScore:
    precision: float
    recall: float
    fmeasure: float


def _score(hits: float, hyp_total: int, ref_total: int) -> RougeScore:
    p = hits / hyp_total if hyp_total else 0.0
    r = hits / ref_total if ref_total else 0.0
    return RougeScore(p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)


def rouge_tokens(text: str, stem: bool = False) -> list[str]:
    tokens = _NON_ALPHANUMERIC.sub(" ", text.lower()).split()
    if stem:
        try:
            from nltk.stem import porter
        except ImportError:
            raise ImportError("ROUGE with stemming needs nltk's Porter stemmer: pip install nltk") from None
        stemmer = porter.PorterStemmer("ORIGINAL_ALGORITHM")
        tokens = [stemmer.stem(t) if len(t) > 3 else t for t in tokens]
        tokens = [t for t in tokens if re.fullmatch(r"[a-z0-9]+", t)]
    return tokens


def _ngram_score(ref: list[str], hyp: list[str], n: int) -> RougeScore:
    ref_grams = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
    hyp_grams = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
    common = sum(min(c, hyp_grams[g]) for g, c in ref_grams.items())
    # rouge-score divides by at least 1, so an empty side scores 0 rather than failing
    return _score(common, max(sum(hyp_grams.values()), 1), max(sum(ref_grams.values()), 1))


def _lcs_table(ref: list[str], hyp: list[str]) -> list[list[int]]:
    table = [[0] * (len(hyp) + 1) for _ in range(len(ref) + 1)]
    for i, r in enumerate(ref, 1):
        row, above = table[i], table[i - 1]
        for j, h in enumerate(hyp, 1):
            row[j] = above[j - 1] + 1 if r == h else max(above[j], row[j - 1])
    return table


def _lcs_positions(ref: list[str], hyp: list[str]) -> set[int]:
    """The positions in ``ref`` of one longest common subsequence (ties: move along hyp)."""
    table = _lcs_table(ref, hyp)
    i, j, positions = len(ref), len(hyp), set()
    while i > 0 and j > 0:
        if ref[i - 1] == hyp[j - 1]:
            positions.add(i - 1)
            i, j = i - 1, j - 1
        elif table[i][j - 1] > table[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return positions


def _lcs_score(ref: list[str], hyp: list[str]) -> RougeScore:
    if not ref or not hyp:
        return RougeScore(0.0, 0.0, 0.0)
    return _score(_lcs_table(ref, hyp)[-1][-1], len(hyp), len(ref))


def _summary_lcs_score(ref_sents: list[list[str]], hyp_sents: list[list[str]]) -> RougeScore:
    m, n = sum(map(len, ref_sents)), sum(map(len, hyp_sents))
    if not ref_sents or not hyp_sents or not m or not n:
        return RougeScore(0.0, 0.0, 0.0)
    ref_left, hyp_left = Counter(t for s in ref_sents for t in s), Counter(t for s in hyp_sents for t in s)
    hits = 0
    for ref in ref_sents:
        union = sorted(set().union(*(_lcs_positions(ref, hyp) for hyp in hyp_sents)))
        for token in (ref[i] for i in union):
            if ref_left[token] > 0 and hyp_left[token] > 0:  # never count a token twice
                hits += 1
                ref_left[token] -= 1
                hyp_left[token] -= 1
    return _score(hits, n, m)


def rouge(
    hypothesis: str,
    reference: str,
    types: Sequence[str] = ("rouge1", "rouge2", "rougeL", "rougeLsum"),
    stem: bool = False,
) -> dict[str, RougeScore]:
    """Scores of one hypothesis against one reference, by type ("rouge1".."rouge9", "rougeL",
    "rougeLsum"), as ``rouge_score.rouge_scorer.RougeScorer(types).score(reference, hypothesis)``."""
    ref, hyp = rouge_tokens(reference, stem), rouge_tokens(hypothesis, stem)
    out: dict[str, RougeScore] = {}
    for t in types:
        if t == "rougeL":
            out[t] = _lcs_score(ref, hyp)
        elif t == "rougeLsum":
            sentences = lambda text: [rouge_tokens(s, stem) for s in text.split("\n") if s]  # noqa: E731
            out[t] = _summary_lcs_score(sentences(reference), sentences(hypothesis))
        elif re.fullmatch(r"rouge[1-9]", t):
            out[t] = _ngram_score(ref, hyp, int(t[5:]))
        else:
            raise ValueError(f"unknown ROUGE type {t!r}: rouge1..rouge9, rougeL or rougeLsum")
    return out
