"""BLEU: clipped n-gram precision with a brevity penalty, scored as sacrebleu scores it.

Papineni, Roukos, Ward, Zhu, "BLEU: a Method for Automatic Evaluation of Machine Translation",
ACL 2002. https://aclanthology.org/P02-1040/

    p_n  = sum_i sum_{g in n-grams(hyp_i)} min(count_hyp_i(g), max_r count_ref_i,r(g))
           / sum_i |n-grams(hyp_i)|                                     (§2.1, clipped precision)
    BP   = 1 if c > r else exp(1 - r / c)                                (§2.2.2, brevity penalty)
    BLEU = BP * exp( (1/N) sum_{n=1..N} log p_n ),  N = 4                (§2.3, geometric mean)

``c`` is the total hypothesis length and ``r`` the sum, over sentences, of the reference length
closest to each hypothesis's length (ties go to the shorter reference). Counts are summed over
the corpus *before* dividing: BLEU is a corpus metric, not an average of sentence scores.

Post, "A Call for Clarity in Reporting BLEU Scores", WMT 2018 (https://aclanthology.org/W18-6319/)
showed that BLEU numbers differ by up to 1.8 points with the tokenization alone, and froze one
recipe as ``sacrebleu``: detokenized text in, the mteval-v13a tokenizer ("13a") applied to both
sides, scores on a 0-100 scale. This module follows that recipe and is held to ``sacrebleu``
within 1e-6 by the tests, including its smoothing methods from Chen & Cherry, "A Systematic
Comparison of Smoothing Techniques for Sentence-Level BLEU", WMT 2014:

    'exp'    the k-th order with no match gets precision 1 / (2^k * total_n)   (mteval-v13a)
    'floor'  an order with no match gets precision smooth_value / total_n       (method 1)
    'add-k'  add smooth_value to matches and totals for n >= 2                 (method 2)
    'none'   an order with no match makes BLEU 0

Translation papers score generated word ids: ``corpus_bleu_tokens`` takes token sequences
(strings or ints) and skips tokenization.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache

MAX_ORDER = 4
# sacrebleu's defaults for smooth_value: floor 0.1 and add-k 1 are Chen & Cherry's.
SMOOTH_DEFAULTS: dict[str, float | None] = {"exp": None, "floor": 0.1, "add-k": 1, "none": None}
TOKENIZERS = ("13a", "none")
# sacrebleu's stand-in for log(0): a zero precision in the mean makes BLEU exactly 0.
_LOG_ZERO = -9999999999.0

# ---------------------------------------------------------------------------------------------
# The 13a tokenizer (mteval-v13a.pl, as frozen by sacrebleu). Each step reads the output of the
# previous one, so the order is part of the definition.
# ---------------------------------------------------------------------------------------------

# mteval's SGML unescaping, in mteval's order: "&amp;lt;" becomes "&lt;" and then "<".
_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))
# Every ASCII punctuation mark except ' , - . is always its own token (mteval writes the class
# as the ranges {-~ [-` space-& (-+ :-@ /; the space in it changes nothing once spaces collapse).
_ALWAYS_SPLIT = re.compile("([" + re.escape('!"#$%&()*+/:;<=>?@[\\]^_`{|}~') + "])")
# A period or comma is split off unless it sits inside a number: "3.14" and "1,000" stay whole.
_PERIOD_COMMA_AFTER_NON_DIGIT = re.compile(r"([^0-9])([.,])")
_PERIOD_COMMA_BEFORE_NON_DIGIT = re.compile(r"([.,])([^0-9])")
# A dash is split off after a digit ("1990-2000"), kept inside words ("well-known").
_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")


@lru_cache(maxsize=2**16)
def tokenize_13a(line: str) -> str:
    """mteval-v13a's tokenization of one detokenized line; tokens are joined by single spaces."""
    line = line.replace("<skipped>", "")  # a placeholder in WMT's SGML files, not text
    line = line.replace("-\n", "")  # a word hyphenated across a line break is joined
    line = line.replace("\n", " ")
    if "&" in line:
        for entity, char in _ENTITIES:
            line = line.replace(entity, char)
    line = f" {line} "  # mteval pads, so the two-character rules can match at the ends
    line = _ALWAYS_SPLIT.sub(r" \1 ", line)
    line = _PERIOD_COMMA_AFTER_NON_DIGIT.sub(r"\1 \2 ", line)
    line = _PERIOD_COMMA_BEFORE_NON_DIGIT.sub(r" \1 \2", line)
    line = _DASH_AFTER_DIGIT.sub(r"\1 \2 ", line)
    return " ".join(line.split())


def _preprocess(line: str, tokenize: str, lowercase: bool) -> list[str]:
    """A detokenized line as BLEU's tokens: lowercase (optional), strip the end, tokenize."""
    if lowercase:
        line = line.lower()
    line = line.rstrip()
    if tokenize == "13a":
        line = tokenize_13a(line)
    return line.split()


# ---------------------------------------------------------------------------------------------
# Sufficient statistics: per sentence, the clipped matches and totals per order and the lengths.
# They add up over a corpus, which is what makes BLEU a corpus metric.
# ---------------------------------------------------------------------------------------------


def ngram_counts(tokens: Sequence[Hashable], max_order: int = MAX_ORDER) -> list[Counter]:
    """For n = 1..max_order, the counts of the n-grams (tuples of n tokens) in ``tokens``."""
    return [Counter(zip(*(tokens[i:] for i in range(n)))) for n in range(1, max_order + 1)]


def closest_ref_len(hyp_len: int, ref_lens: Sequence[int]) -> int:
    """The reference length closest to the hypothesis length; a tie goes to the shorter one."""
    return min(ref_lens, key=lambda ref_len: (abs(ref_len - hyp_len), ref_len))


def sentence_statistics(
    hyp: Sequence[Hashable], refs: Sequence[Sequence[Hashable]], max_order: int = MAX_ORDER
) -> list[int]:
    """``[hyp_len, ref_len, matches_1..N, totals_1..N]`` for one hypothesis and its references."""
    if not refs:
        raise ValueError("a hypothesis needs at least one reference")
    # §2.1: a hypothesis n-gram is credited at most as often as it occurs in any one reference.
    max_ref_counts = ngram_counts(refs[0], max_order)
    for ref in refs[1:]:
        for n, counts in enumerate(ngram_counts(ref, max_order)):
            max_ref_counts[n] |= counts  # Counter | Counter keeps the larger count
    hyp_counts = ngram_counts(hyp, max_order)
    matches = [sum((h & r).values()) for h, r in zip(hyp_counts, max_ref_counts)]  # & keeps the smaller
    totals = [sum(h.values()) for h in hyp_counts]
    return [len(hyp), closest_ref_len(len(hyp), [len(ref) for ref in refs]), *matches, *totals]


# ---------------------------------------------------------------------------------------------
# From statistics to a score.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BLEUScore:
    """A BLEU score and the statistics it came from, with ``sacrebleu.BLEUScore``'s field names.

    ``score`` and ``precisions`` are percentages (0-100); ``precisions`` are after smoothing.
    ``counts`` (clipped matches) and ``totals`` (hypothesis n-grams) are the raw corpus sums,
    before add-k smoothing (sacrebleu's own ``counts`` include the added k).
    """

    score: float
    counts: tuple[int, ...]
    totals: tuple[int, ...]
    precisions: tuple[float, ...]
    bp: float
    sys_len: int
    ref_len: int

    @property
    def ratio(self) -> float:
        """Hypothesis length over reference length (0 for an empty reference side)."""
        return self.sys_len / self.ref_len if self.ref_len else 0.0

    def __str__(self) -> str:
        precisions = "/".join(f"{p:.1f}" for p in self.precisions)
        return (
            f"BLEU = {self.score:.2f} {precisions} (BP = {self.bp:.3f} ratio = {self.ratio:.3f} "
            f"hyp_len = {self.sys_len} ref_len = {self.ref_len})"
        )


def _check_smoothing(smooth_method: str, smooth_value: float | None) -> float | None:
    if smooth_method not in SMOOTH_DEFAULTS:
        raise ValueError(
            f"unknown smooth_method {smooth_method!r}: use one of {', '.join(map(repr, SMOOTH_DEFAULTS))}"
        )
    return SMOOTH_DEFAULTS[smooth_method] if smooth_value is None else smooth_value


def bleu_from_statistics(
    stats: Sequence[int],
    *,
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    use_effective_order: bool = False,
    max_order: int = MAX_ORDER,
) -> BLEUScore:
    """BLEU from summed ``sentence_statistics``: smoothed precisions, brevity penalty, mean."""
    smooth_value = _check_smoothing(smooth_method, smooth_value)
    sys_len, ref_len = int(stats[0]), int(stats[1])
    counts, totals = tuple(stats[2 : 2 + max_order]), tuple(stats[2 + max_order : 2 + 2 * max_order])

    # §2.2.2: penalise a corpus shorter than its references; an empty one gets BP = 0.
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1.0 - ref_len / sys_len) if sys_len > 0 else 0.0

    precisions = [0.0] * max_order
    if not any(counts):  # no match at all: 0, whatever the smoothing (sacrebleu issue #141)
        return BLEUScore(0.0, counts, totals, tuple(precisions), bp, sys_len, ref_len)

    used_orders = max_order
    zero_orders = 0  # for 'exp': how many orders so far had no match
    for n in range(1, max_order + 1):
        matches, total = counts[n - 1], totals[n - 1]
        if smooth_method == "add-k" and n > 1:
            matches, total = matches + smooth_value, total + smooth_value
        if total == 0:
            break  # no n-grams this long (nor longer): p_n stays 0
        if use_effective_order:
            used_orders = n  # the geometric mean stops at the longest order the hypotheses have
        if matches > 0:
            precisions[n - 1] = 100.0 * matches / total
        elif smooth_method == "exp":
            zero_orders += 1
            precisions[n - 1] = 100.0 / (2**zero_orders * total)
        elif smooth_method == "floor":
            precisions[n - 1] = 100.0 * smooth_value / total

    # §2.3: geometric mean of the precisions; in percent, so the score is on sacrebleu's 0-100.
    log_mean = sum(math.log(p) if p > 0 else _LOG_ZERO for p in precisions[:used_orders]) / used_orders
    return BLEUScore(bp * math.exp(log_mean), counts, totals, tuple(precisions), bp, sys_len, ref_len)


# ---------------------------------------------------------------------------------------------
# The public calls, in sacrebleu's argument order.
# ---------------------------------------------------------------------------------------------


def _check_layout(hypotheses: Sequence, references: Sequence[Sequence]) -> None:
    """references[k][i] is the k-th reference of hypotheses[i] (sacrebleu's layout)."""
    if isinstance(hypotheses, str):
        raise TypeError("hypotheses must be a sequence of sentences, not one string")
    if isinstance(references, str) or any(isinstance(stream, str) for stream in references):
        raise TypeError(
            "references must be a list of reference streams, each with one reference per "
            "hypothesis: pass [refs] for a single reference per sentence, not refs"
        )
    if len(references) == 0:
        raise ValueError("references is empty: give at least one reference stream")
    for k, stream in enumerate(references):
        if len(stream) != len(hypotheses):
            raise ValueError(
                f"references[{k}] holds {len(stream)} sentences but there are {len(hypotheses)} "
                "hypotheses: every reference stream must hold one reference per hypothesis "
                "(references[k][i] is the k-th reference of hypotheses[i])"
            )


def _segments(references: Sequence[Sequence]) -> list[list]:
    """Transpose streams to the references of each hypothesis; a None reference is skipped."""
    per_segment = [[ref for ref in refs if ref is not None] for refs in zip(*references)]
    for i, refs in enumerate(per_segment):
        if not refs:
            raise ValueError(f"hypothesis {i} has no reference: every reference stream holds None there")
    return per_segment


def _sum_statistics(
    hyps: Sequence[Sequence[Hashable]], refs: Sequence[Sequence[Sequence[Hashable]]]
) -> list[int]:
    total = [0] * (2 + 2 * MAX_ORDER)
    for hyp, segment_refs in zip(hyps, refs):
        total = [a + b for a, b in zip(total, sentence_statistics(hyp, segment_refs))]
    return total


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str | None]],
    *,
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    tokenize: str = "13a",
    lowercase: bool = False,
    force: bool = False,
    use_effective_order: bool = False,
) -> BLEUScore:
    """Corpus BLEU of detokenized ``hypotheses`` against ``references``, as ``sacrebleu.corpus_bleu``.

    ``references`` is a list of reference streams, each with one sentence per hypothesis
    (``[refs]`` for one reference each, ``[refs_a, refs_b]`` for two); a ``None`` in a stream
    means that sentence has fewer references. ``tokenize`` is ``"13a"`` (the default, as in
    sacrebleu) or ``"none"`` (split on whitespace). ``force`` silences the warning that the
    hypotheses look tokenized already.
    """
    if tokenize not in TOKENIZERS:
        raise ValueError(f"unknown tokenize {tokenize!r}: use one of {', '.join(map(repr, TOKENIZERS))}")
    _check_smoothing(smooth_method, smooth_value)
    _check_layout(hypotheses, references)
    segments = _segments(references)
    if not force and sum(hyp.endswith(" .") for hyp in hypotheses) >= 100:
        # BLEU on tokenized text is not comparable to published (13a, detokenized) BLEU.
        warnings.warn(
            "100 or more hypotheses end in a tokenized period (' .'): BLEU expects detokenized "
            "text; pass force=True if it is detokenized",
            stacklevel=2,
        )
    hyps = [_preprocess(hyp, tokenize, lowercase) for hyp in hypotheses]
    refs = [[_preprocess(ref, tokenize, lowercase) for ref in seg] for seg in segments]
    return bleu_from_statistics(
        _sum_statistics(hyps, refs),
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        use_effective_order=use_effective_order,
    )


def sentence_bleu(
    hypothesis: str,
    references: Sequence[str],
    *,
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    tokenize: str = "13a",
    lowercase: bool = False,
    use_effective_order: bool = True,
) -> BLEUScore:
    """BLEU of one sentence against its references, as ``sacrebleu.sentence_bleu``.

    Effective order is on by default: a short sentence is scored on the orders it has.
    """
    if not isinstance(hypothesis, str):
        raise TypeError("hypothesis must be one string; use corpus_bleu for a list of sentences")
    if isinstance(references, str):
        raise TypeError("references must be a list of reference strings, e.g. [ref]")
    return corpus_bleu(
        [hypothesis],
        [[ref] for ref in references],
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        tokenize=tokenize,
        lowercase=lowercase,
        force=True,
        use_effective_order=use_effective_order,
    )


def corpus_bleu_tokens(
    hypotheses: Sequence[Sequence[Hashable]],
    references: Sequence[Sequence[Sequence[Hashable] | None]],
    *,
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    use_effective_order: bool = False,
) -> BLEUScore:
    """Corpus BLEU of token sequences (word strings or word ids), with no tokenization.

    Same layout as ``corpus_bleu``: ``references[k][i]`` is the k-th reference of
    ``hypotheses[i]``. Equal to ``corpus_bleu`` with ``tokenize="none"`` on the space-joined
    tokens. Tensors and arrays are accepted per sentence (converted with ``.tolist()``).
    """
    _check_smoothing(smooth_method, smooth_value)
    _check_layout(hypotheses, references)
    hyps = [_as_tokens(hyp) for hyp in hypotheses]
    refs = [[_as_tokens(ref) for ref in seg] for seg in _segments(references)]
    return bleu_from_statistics(
        _sum_statistics(hyps, refs),
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        use_effective_order=use_effective_order,
    )


def _as_tokens(sentence: Sequence[Hashable]) -> tuple:
    # A tensor's elements hash by identity, so two equal word ids would never match: use values.
    if hasattr(sentence, "tolist"):
        sentence = sentence.tolist()
    if isinstance(sentence, str):
        raise TypeError(
            f"corpus_bleu_tokens takes token sequences, got the string {sentence[:40]!r}; "
            "use corpus_bleu for text"
        )
    return tuple(sentence)
