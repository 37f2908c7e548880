"""chrF equals sacrebleu's, ROUGE equals rouge-score's, WER and CER equal jiwer's, on edge
cases and random corpora; ``landmarks score`` prints them and refuses bad files (exit 2)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from landmarks.cli import main
from landmarks.metrics import character_error_rate, corpus_chrf, rouge, word_error_rate

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "dog",
    "ran",
    "running",
    "runs",
    ".",
    ",",
    "!",
    "(",
    "hi",
    ")",
    "The",
    "CAT",
    "12",
    "x-y",
    "ça",
    "été",
    "東京",
]


def _corpus(rng: random.Random, lines: int, max_words: int = 12) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, max_words))) for _ in range(lines)]


@pytest.mark.parametrize("word_order", [0, 2], ids=["chrF", "chrF++"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_chrf_equals_sacrebleu(word_order, lowercase):
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = random.Random(word_order + 2 * lowercase)
    metric = sacrebleu.metrics.CHRF(word_order=word_order, lowercase=lowercase)
    for _ in range(60):
        n = rng.randint(1, 5)
        hyps, refs = _corpus(rng, n), [_corpus(rng, n) for _ in range(rng.randint(1, 3))]
        ours = corpus_chrf(hyps, refs, word_order=word_order, lowercase=lowercase).score
        assert ours == pytest.approx(metric.corpus_score(hyps, refs).score, abs=1e-6)
    assert corpus_chrf(["abc"], [["abc"]]).score == pytest.approx(100.0)
    assert corpus_chrf([""], [[""]]).score == 0.0


@pytest.mark.parametrize("stem", [False, True], ids=["plain", "stemmed"])
def test_rouge_equals_rouge_score(stem):
    scorer_module = pytest.importorskip("rouge_score.rouge_scorer")
    types = ["rouge1", "rouge2", "rouge3", "rougeL", "rougeLsum"]
    scorer = scorer_module.RougeScorer(types, use_stemmer=stem)
    rng = random.Random(stem)
    for _ in range(150):
        hyp = "\n".join(_corpus(rng, rng.randint(1, 3), 9))
        ref = "\n".join(_corpus(rng, rng.randint(1, 3), 9))
        ours, theirs = rouge(hyp, ref, types, stem=stem), scorer.score(ref, hyp)
        for t in types:
            assert (ours[t].precision, ours[t].recall, ours[t].fmeasure) == pytest.approx(
                (theirs[t].precision, theirs[t].recall, theirs[t].fmeasure), abs=1e-12
            )
    with pytest.raises(ValueError, match="unknown ROUGE type"):
        rouge("a", "a", ["rougeX"])


def test_error_rates_equal_jiwer():
    jiwer = pytest.importorskip("jiwer")
    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(1, 5)
        refs = [r or "x" for r in _corpus(rng, n)]  # jiwer refuses empty references
        hyps = _corpus(rng, n)
        assert word_error_rate(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps), abs=1e-9)
        assert character_error_rate(refs, hyps) == pytest.approx(jiwer.cer(refs, hyps), abs=1e-9)


def _files(tmp_path: Path, hyp: str, *refs: str) -> list[str]:
    paths = []
    for name, text in (("hyp.txt", hyp), *((f"ref{i}.txt", r) for i, r in enumerate(refs))):
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(str(tmp_path / name))
    return paths


@pytest.mark.parametrize(
    "metric, shown",
    [("bleu", "BLEU"), ("chrf", "chrF2"), ("rouge", "rougeLsum"), ("wer", "WER"), ("cer", "CER")],
)
def test_score_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], metric, shown):
    files = _files(tmp_path, "the cat sat on the mat\nhello there\n", "the cat sat on a mat\nhello there\n")
    assert main(["score", "--metric", metric, *files]) == 0
    assert shown in capsys.readouterr().out


def test_score_refuses_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    files = _files(tmp_path, "one\ntwo\n", "one\n")
    assert main(["score", *files]) == 2
    assert "ref0.txt has 1 lines and" in capsys.readouterr().err
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9\n")
    assert main(["score", str(tmp_path / "bad.txt"), files[1]]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert main(["score", "--metric", "wer", files[0], files[0], files[0]]) == 2
    assert "takes one reference file" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "missing.txt"), files[1]]) == 2


def test_bertscore_on_hand_computed_cases():
    import math

    import torch

    from landmarks.metrics.bertscore import bert_score, idf_weights

    e = torch.eye(3)
    same = bert_score(e, e)
    assert (same.precision, same.recall, same.f1) == pytest.approx((1.0, 1.0, 1.0))
    assert bert_score(e[:1], e[1:]).f1 == pytest.approx(0.0)  # orthogonal tokens share nothing
    # candidate [x, (x + y)/√2], reference [x, y]: recall = (1 + 1/√2) / 2, precision = (1 + 1/√2) / 2
    cand = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    ref = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # lengths do not matter: cosine
    s = bert_score(cand, ref)
    half = (1 + 1 / math.sqrt(2)) / 2
    assert (s.precision, s.recall) == pytest.approx((half, half))
    # idf: the reference token in every reference weighs log(3/3) = 0, so only y's match counts
    idf = idf_weights([["x", "y"], ["x", "z"]])
    assert idf["x"] == pytest.approx(0.0) and idf["y"] == pytest.approx(math.log(3 / 2))
    weighted = bert_score(cand, ref, reference_weights=torch.tensor([idf["x"], idf["y"]]))
    assert weighted.recall == pytest.approx(1 / math.sqrt(2))
    rescaled = bert_score(cand, ref, baseline=(0.5, 0.5, 0.5))
    assert rescaled.precision == pytest.approx((half - 0.5) / 0.5)
    with pytest.raises(ValueError, match="same d"):
        bert_score(torch.zeros(2, 3), torch.zeros(2, 4))
