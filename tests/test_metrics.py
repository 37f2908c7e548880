"""landmarks.metrics: BLEU held to sacrebleu (the reference) within 1e-6, and to Papineni et al."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from landmarks.metrics import BLEUScore, corpus_bleu, corpus_bleu_tokens, sentence_bleu, tokenize_13a

TOL = 1e-6
SMOOTHINGS = [("exp", None), ("floor", None), ("floor", 0.3), ("add-k", None), ("add-k", 0.5), ("none", None)]


@pytest.fixture(scope="module")
def sacrebleu():
    return pytest.importorskip("sacrebleu")


def assert_same(
    ours: BLEUScore, theirs, smooth_method: str = "exp", smooth_value: float | None = None
) -> None:
    """Every field of our score equals sacrebleu's BLEUScore."""
    assert ours.score == pytest.approx(theirs.score, abs=TOL, rel=0)
    assert list(ours.precisions) == pytest.approx(theirs.precisions, abs=TOL, rel=0)
    assert ours.bp == pytest.approx(theirs.bp, abs=TOL, rel=0)
    assert (ours.sys_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
    counts, totals = list(theirs.counts), list(theirs.totals)
    if smooth_method == "add-k" and any(ours.counts):
        # sacrebleu reports add-k's smoothed counts; ours are the raw ones.
        k = 1 if smooth_value is None else smooth_value
        counts = [counts[0]] + [c - k for c in counts[1:]]
        totals = [totals[0]] + [t - k for t in totals[1:]]
    assert list(ours.counts) == pytest.approx(counts)
    assert list(ours.totals) == pytest.approx(totals)
    assert str(ours) == str(theirs)


# --- the 13a tokenizer --------------------------------------------------------------------------

TRICKY_LINES = [
    "Hello, world! It's 3.14 -- isn't it?",
    "He said &quot;no&quot; &amp; left &lt;quietly&gt;.",
    "&amp;lt; is an escaped &amp;quot; entity",
    "the <skipped> segment",
    "a word hyphen-\nated across lines\nand a newline",
    "1,000,000 people in 1990-2000, i.e. 3.5% (or so).",
    "U.S.A. vs. e.g., etc... and ... ellipses",
    "well-known -- dash- -dash 5- -5 a-5 5-a",
    "tabs\tand   spaces  ",
    "{braces} [brackets] `ticks` ~tilde^ _under_ @at #hash $5 *star* +plus /slash\\ |pipe| =eq;",
    "Ünïcödé, naïve café. ÆØÅ!",
    ".leading and trailing.",
    ",",
    "",
    "   ",
    "3.",
    ".5",
    "a.b,c",
    "1.a a.1 1,a a,1",
]


@pytest.mark.parametrize("line", TRICKY_LINES)
def test_tokenize_13a_matches_sacrebleu(sacrebleu, line: str) -> None:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    assert tokenize_13a(line) == Tokenizer13a()(line)


def test_tokenize_13a_on_every_ascii_character_and_random_punctuation(sacrebleu) -> None:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    reference = Tokenizer13a()
    for code in range(32, 127):
        for context in ("{}", "a{}b", "1{}2", "a{}1", "1{}a"):
            line = context.format(chr(code))
            assert tokenize_13a(line) == reference(line), repr(line)
    # The rules read each other's output, so mix the characters they care about.
    rng = random.Random(0)
    alphabet = "ab19.,-'&;<>\"qtuolg \n"
    for _ in range(2000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        assert tokenize_13a(line) == reference(line), repr(line)


# --- BLEU as the paper defines it ---------------------------------------------------------------


def test_papineni_modified_precision_example() -> None:
    # Papineni et al. 2002, §2.1, Example 2: modified unigram precision 2/7.
    hyp = "the the the the the the the"
    refs = [["The cat is on the mat."], ["There is a cat on the mat."]]
    score = corpus_bleu([hyp], refs, lowercase=True)
    assert (score.counts[0], score.totals[0]) == (2, 7)
    assert score.precisions[0] == pytest.approx(100 * 2 / 7)


def test_perfect_match_scores_100_and_disjoint_scores_0() -> None:
    assert corpus_bleu(["a b c d e"], [["a b c d e"]]).score == pytest.approx(100.0)
    assert corpus_bleu(["a b c d e"], [["v w x y z"]]).score == 0.0


def test_brevity_penalty_uses_the_closest_reference_length_ties_to_shorter() -> None:
    # hypothesis of 4 tokens, references of 3 and 5: both 1 away, the shorter (3) is used.
    score = corpus_bleu(["a b c d"], [["a b c"], ["a b c d e"]], tokenize="none")
    assert score.ref_len == 3 and score.bp == 1.0
    short = corpus_bleu(["a b"], [["a b c d"]], tokenize="none")
    assert short.bp == pytest.approx(np.exp(1 - 4 / 2))


# --- parity with sacrebleu on the edge cases ----------------------------------------------------

EDGE_CASES = {
    "empty hypothesis": (["", "the cat sat on the mat"], [["a reference here", "the cat sat on a mat"]]),
    "all empty": (["", ""], [["", ""]]),
    "empty hypotheses, nonempty references": (["", ""], [["a b", "c d e"]]),
    "empty reference": (["the cat sat"], [[""]]),
    "empty reference among several": (["the cat sat on the mat"], [[""], ["the cat sat on a mat"]]),
    "no 4-gram match": (["the cat sat on a mat today"], [["the cat sat under a mat today"]]),
    "no 3-gram match": (["a b x c d"], [["a b y c d"]]),
    "shorter than 4 tokens": (["the cat"], [["the cat"]]),
    "one token": (["cat"], [["the cat sat"]]),
    "no match at all": (["xyz"], [["the cat sat"]]),
    "several references of different lengths": (
        ["the cat is on the mat", "there is a dog in the garden"],
        [
            ["the cat is on the mat .", "a dog is in the garden"],
            ["there is a cat on the mat", "there is a dog in the garden today , said he"],
            ["cat on mat", "dog"],
        ],
    ),
    "variable number of references (None)": (
        ["the cat is on the mat", "a dog"],
        [["the cat sat on the mat", "the dog"], [None, "a dog barks"]],
    ),
    "clipping by the max reference count": (
        ["the the the cat cat"],
        [["the cat the"], ["the the the cat"]],
    ),
    "longer than every reference": (["a b c d e f g h i j"], [["a b c"], ["a b c d e"]]),
    "punctuation and entities": (
        ["Hello, world! It's 3.14 -- isn't it?", "He said &quot;no&quot; &amp; left <skipped>."],
        [["Hello world! It's 3.14, isn't it?", 'He said "no" & left.']],
    ),
    "hyphenated line join": (["a hyphen-\nated word"], [["a hyphenated word"]]),
    "trailing whitespace": (["the cat sat  \n"], [["the cat sat"]]),
    "trailing hyphen and newline": (["the cat sat-\n"], [["the cat sat-"]]),
    "only unigrams match": (["a b c d e"], [["e d c b a"]]),
}


@pytest.mark.parametrize("use_effective_order", [False, True])
@pytest.mark.parametrize(("smooth_method", "smooth_value"), SMOOTHINGS)
@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_corpus_bleu_matches_sacrebleu_on_edge_cases(
    sacrebleu, case: str, smooth_method: str, smooth_value: float | None, use_effective_order: bool
) -> None:
    hyps, refs = EDGE_CASES[case]
    kwargs = dict(
        smooth_method=smooth_method, smooth_value=smooth_value, use_effective_order=use_effective_order
    )
    assert_same(
        corpus_bleu(hyps, refs, **kwargs),
        sacrebleu.corpus_bleu(hyps, refs, **kwargs),
        smooth_method,
        smooth_value,
    )


@pytest.mark.parametrize("tokenize", ["13a", "none"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_tokenize_and_lowercase_options_match_sacrebleu(sacrebleu, tokenize: str, lowercase: bool) -> None:
    hyps = ["The Cat, said HELLO.", "It's 3.14 -- ISN'T it?", "&amp; The END"]
    refs = [
        ["the cat said hello .", "it's 3.14 -- isn't it ?", "& the end"],
        ["THE CAT SAID HELLO.", "It is 3.14.", "the End"],
    ]
    kwargs = dict(tokenize=tokenize, lowercase=lowercase)
    assert_same(corpus_bleu(hyps, refs, **kwargs), sacrebleu.corpus_bleu(hyps, refs, **kwargs))


def test_empty_corpus_scores_zero() -> None:
    # sacrebleu raises IndexError on an empty corpus; here the statistics are simply all zero.
    score = corpus_bleu([], [[]])
    assert score.score == 0.0 and score.sys_len == 0 and score.ref_len == 0


# --- sentence BLEU ------------------------------------------------------------------------------


@pytest.mark.parametrize(("smooth_method", "smooth_value"), SMOOTHINGS)
def test_sentence_bleu_matches_sacrebleu(sacrebleu, smooth_method: str, smooth_value: float | None) -> None:
    cases = [
        (hyp, [ref[i] for ref in refs]) for hyps, refs in EDGE_CASES.values() for i, hyp in enumerate(hyps)
    ]
    for hyp, refs in cases:
        refs = [ref for ref in refs if ref is not None]
        for effective in (True, False):
            kwargs = dict(
                smooth_method=smooth_method, smooth_value=smooth_value, use_effective_order=effective
            )
            assert_same(
                sentence_bleu(hyp, refs, **kwargs),
                sacrebleu.sentence_bleu(hyp, refs, **kwargs),
                smooth_method,
                smooth_value,
            )


def test_sentence_bleu_defaults_are_sacrebleus(sacrebleu) -> None:
    hyp, refs = "the cat sat", ["the cat sat on the mat", "a cat sat"]
    assert_same(sentence_bleu(hyp, refs), sacrebleu.sentence_bleu(hyp, refs))
    assert sentence_bleu(hyp, refs).score > 0  # effective order: a 3-token sentence is not 0


# --- random corpora -----------------------------------------------------------------------------

VOCAB = ["the", "The", "cat", "sat", "on", "mat", "a", "dog", "3.14", "it's", "well-known", "1990-2000",
         "Hello,", "world!", "&amp;", "(yes)", "U.S.", '"quoted"', "end."]  # fmt: skip


def _random_corpus(rng: random.Random, n_sentences: int) -> tuple[list[str], list[list[str]]]:
    """Hypotheses and 1-3 reference streams; references are edited hypotheses, so n-grams match."""
    hyps = [[rng.choice(VOCAB) for _ in range(rng.randint(0, 15))] for _ in range(n_sentences)]
    streams = []
    for _ in range(rng.randint(1, 3)):
        stream = []
        for hyp in hyps:
            ref = [rng.choice(VOCAB) if rng.random() < 0.3 else word for word in hyp if rng.random() > 0.1]
            ref += [rng.choice(VOCAB) for _ in range(rng.randint(0, 3))]
            stream.append(" ".join(ref))
        streams.append(stream)
    return [" ".join(hyp) for hyp in hyps], streams


def test_random_corpora_match_sacrebleu(sacrebleu) -> None:
    rng = random.Random(1234)
    for _ in range(50):
        hyps, refs = _random_corpus(rng, 20)
        smooth_method, smooth_value = rng.choice(SMOOTHINGS)
        kwargs = dict(
            smooth_method=smooth_method,
            smooth_value=smooth_value,
            lowercase=rng.random() < 0.5,
            tokenize=rng.choice(["13a", "13a", "none"]),
            use_effective_order=rng.random() < 0.5,
        )
        ours, theirs = corpus_bleu(hyps, refs, **kwargs), sacrebleu.corpus_bleu(hyps, refs, **kwargs)
        assert_same(ours, theirs, smooth_method, smooth_value)


def test_random_corpora_score_between_0_and_100_with_matches() -> None:
    rng = random.Random(7)
    scores = [corpus_bleu(*_random_corpus(rng, 20)).score for _ in range(20)]
    assert all(0.0 <= s <= 100.0 for s in scores)
    assert sum(s > 0 for s in scores) >= 15  # the generator does produce 4-gram matches


# --- token sequences ----------------------------------------------------------------------------


def test_corpus_bleu_tokens_equals_corpus_bleu_without_tokenization(sacrebleu) -> None:
    rng = random.Random(3)
    for _ in range(10):
        hyps, refs = _random_corpus(rng, 20)
        hyp_tokens = [hyp.split() for hyp in hyps]
        ref_tokens = [[ref.split() for ref in stream] for stream in refs]
        expected = sacrebleu.corpus_bleu(hyps, refs, tokenize="none", force=True)
        assert_same(corpus_bleu_tokens(hyp_tokens, ref_tokens), expected)
        # Word ids score as words do, as lists or as arrays.
        ids = {word: i for i, word in enumerate(VOCAB)}
        hyp_ids = [np.array([ids[w] for w in hyp], dtype=np.int64) for hyp in hyp_tokens]
        ref_ids = [[[ids[w] for w in ref] for ref in stream] for stream in ref_tokens]
        assert_same(corpus_bleu_tokens(hyp_ids, ref_ids), expected)


def test_corpus_bleu_tokens_on_a_large_corpus(sacrebleu) -> None:
    """2,000 lines of 50 ids: the counting path at scale, against sacrebleu on the same words.
    (Its speed is ``landmarks bench metrics``' business, not a timed assertion here.)"""
    rng = np.random.default_rng(0)
    hyps = [rng.integers(0, 50, size=50).tolist() for _ in range(2000)]
    refs = [[rng.integers(0, 50, size=50).tolist() for _ in range(2000)]]
    words = lambda ids: " ".join(f"w{i}" for i in ids)  # noqa: E731
    expected = sacrebleu.corpus_bleu(
        [words(h) for h in hyps], [[words(r) for r in refs[0]]], tokenize="none", force=True
    )
    assert_same(corpus_bleu_tokens(hyps, refs), expected)


# --- errors and warnings ------------------------------------------------------------------------


def test_mismatched_reference_stream_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"references\[1\] holds 1 sentences but there are 2 hypotheses"):
        corpus_bleu(["a b", "c d"], [["a b", "c d"], ["a b"]])
    with pytest.raises(ValueError, match="one reference per hypothesis"):
        corpus_bleu_tokens([["a"], ["b"]], [[["a"]]])


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(TypeError, match=r"pass \[refs\]"):
        corpus_bleu(["a b", "c d"], ["a b", "c d"])
    with pytest.raises(ValueError, match="at least one reference stream"):
        corpus_bleu(["a b"], [])
    with pytest.raises(ValueError, match="unknown smooth_method 'add-one'"):
        corpus_bleu(["a"], [["a"]], smooth_method="add-one")
    with pytest.raises(ValueError, match="unknown tokenize 'intl'"):
        corpus_bleu(["a"], [["a"]], tokenize="intl")
    with pytest.raises(ValueError, match="hypothesis 0 has no reference"):
        corpus_bleu(["a"], [[None]])
    with pytest.raises(TypeError, match="one string"):
        sentence_bleu(["a"], ["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="token sequences"):
        corpus_bleu_tokens(["a b"], [[["a", "b"]]])


def test_tokenized_looking_hypotheses_warn_unless_forced() -> None:
    hyps = ["a tokenized sentence ."] * 100
    with pytest.warns(UserWarning, match="detokenized"):
        corpus_bleu(hyps, [hyps])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        corpus_bleu(hyps, [hyps], force=True)
