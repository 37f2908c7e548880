"""chrF: the character n-gram F-score (Popović, 2015), and chrF++ with word n-grams too
(Popović, 2017), as sacrebleu computes it (Post, 2018).

For each n-gram order (characters 1..6 with spaces removed; words 1..2 for chrF++), count the
hypothesis n-grams, the reference n-grams and the matches (clipped by the reference's count).
Sum those counts over the corpus, average precision and recall over the orders that occur in
both hypothesis and reference, and combine them as

    chrF_β = (1 + β²) · P · R / (β² · P + R),   β = 2: recall weighs twice as much as precision

With several references, each segment uses the reference whose own chrF is highest. The score
is on sacrebleu's 0–100 scale, and equals ``sacrebleu.corpus_chrf`` (tested).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CHRFScore", "corpus_chrf", "sentence_chrf"]

CHAR_ORDER, WORD_ORDER, BETA = 6, 0, 2
_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


@dataclass(frozen=True)
class CHRFScore:
    score: float  # 0-100
    char_order: int
    word_order: int
    beta: int

    def __str__(self) -> str:
        return f"chrF{self.beta}{'+' * self.word_order} = {self.score:.2f}"


def _char_ngrams(text: str, order: int, whitespace: bool) -> list[Counter]:
    if not whitespace:
        text = "".join(text.split())
    return [Counter(text[i : i + n] for i in range(len(text) - n + 1)) for n in range(1, order + 1)]


def _words(text: str) -> list[str]:
    """Whitespace tokens with one punctuation mark split off a word's end (or else its start)."""
    out: list[str] = []
    for w in text.split():
        if len(w) > 1 and w[-1] in _PUNCTUATION:
            out += [w[:-1], w[-1]]
        elif len(w) > 1 and w[0] in _PUNCTUATION:
            out += [w[0], w[1:]]
        else:
            out.append(w)
    return out


def _ngrams(text: str, char_order: int, word_order: int, whitespace: bool) -> list[Counter]:
    grams = _char_ngrams(text, char_order, whitespace)
    if word_order:
        words = _words(text)
        grams += [
            Counter(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
            for n in range(1, word_order + 1)
        ]
    return grams


def _statistics(hyp: list[Counter], ref: list[Counter]) -> list[int]:
    """[hypothesis n-grams, reference n-grams, matches] per order, flattened."""
    stats: list[int] = []
    for h, r in zip(hyp, ref, strict=True):
        matches = sum(min(c, r[g]) for g, c in h.items() if g in r)
        stats += [sum(h.values()) if r else 0, sum(r.values()), matches]  # no reference n-grams: no hits
    return stats


def _f_score(stats: Sequence[int], beta: int) -> float:
    precision = recall = 0.0
    effective = 0
    for i in range(0, len(stats), 3):
        n_hyp, n_ref, n_match = stats[i : i + 3]
        if n_hyp > 0 and n_ref > 0:  # only orders present on both sides are averaged
            precision += n_match / n_hyp
            recall += n_match / n_ref
            effective += 1
    if effective:
        precision, recall = precision / effective, recall / effective
    if precision + recall == 0:
        return 0.0
    b2 = beta**2
    return 100 * (1 + b2) * precision * recall / (b2 * precision + recall)


def corpus_chrf(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    char_order: int = CHAR_ORDER,
    word_order: int = WORD_ORDER,
    beta: int = BETA,
    lowercase: bool = False,
    whitespace: bool = False,
) -> CHRFScore:
    """``references`` as sacrebleu takes them: one list per reference *set*, each as long as
    ``hypotheses``. ``word_order=2`` gives chrF++."""
    if not references:
        raise ValueError("chrF needs at least one set of references")
    for ref_set in references:
        if len(ref_set) != len(hypotheses):
            raise ValueError(f"a reference set has {len(ref_set)} lines, the hypotheses {len(hypotheses)}")
    total = [0] * (3 * (char_order + word_order))
    prep = str.lower if lowercase else str
    for i, hyp in enumerate(hypotheses):
        hyp_grams = _ngrams(prep(hyp), char_order, word_order, whitespace)
        best, best_f = None, -1.0
        for ref_set in references:
            stats = _statistics(hyp_grams, _ngrams(prep(ref_set[i]), char_order, word_order, whitespace))
            f = _f_score(stats, beta)
            if f > best_f:
                best, best_f = stats, f
        total = [a + b for a, b in zip(total, best, strict=True)]  # type: ignore[arg-type]
    return CHRFScore(_f_score(total, beta), char_order, word_order, beta)


def sentence_chrf(hypothesis: str, references: Sequence[str], **kwargs) -> CHRFScore:  # type: ignore[no-untyped-def]
    return corpus_chrf([hypothesis], [[r] for r in references], **kwargs)
