"""embeddings: skip-gram's pairs (sentence bounds, reduced windows), subsampling, GloVe's
weighted counts, fastText's hash and n-grams, 3CosAdd, the word2vec formats against gensim,
and a quick run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landmarks.cli import main
from landmarks.data.errors import DataFormatError
from landmarks.embeddings.fasttext import char_ngrams, fnv1a
from landmarks.embeddings.glove import cooccurrence
from landmarks.embeddings.planted import analogy_questions, held_out_forms, planted_corpus
from landmarks.embeddings.vectors import WordVectors, analogy_accuracy
from landmarks.embeddings.word2vec import _epoch_pairs, _epoch_windows


def test_pairs_stay_in_their_sentence_and_window():
    ids = torch.arange(10)
    sentence = torch.tensor([0] * 6 + [1] * 4)
    g = torch.Generator().manual_seed(0)
    centers, contexts = _epoch_pairs(ids, sentence, torch.ones(10), 3, g)
    assert len(centers) > 0
    assert (sentence[centers] == sentence[contexts]).all()
    assert ((centers - contexts).abs() <= 3).all() and (centers != contexts).all()
    # with every token kept and a window of 1, exactly the neighbours within a sentence
    c, o = _epoch_pairs(ids, sentence, torch.ones(10), 1, g)
    assert sorted(zip(c.tolist(), o.tolist(), strict=True)) == sorted(
        [(i, i + 1) for i in range(9) if i != 5] + [(i + 1, i) for i in range(9) if i != 5]
    )


def test_cbow_windows_hold_the_neighbours_within_the_sentence():
    ids = torch.arange(10)
    sentence = torch.tensor([0] * 6 + [1] * 4)
    centers, context, real = _epoch_windows(
        ids, sentence, torch.ones(10), 2, torch.Generator().manual_seed(0)
    )
    assert real.any(1).all()
    for c, ctx, ok in zip(centers.tolist(), context.tolist(), real.tolist(), strict=True):
        shown = {w for w, r in zip(ctx, ok, strict=True) if r}
        assert shown and all(abs(w - c) <= 2 and sentence[w] == sentence[c] and w != c for w in shown)


def test_glove_counts_weigh_by_inverse_distance():
    x = cooccurrence([["a", "b", "c"], ["a", "b"]], {"a": 0, "b": 1, "c": 2}, window=2)
    assert x[0, 1] == x[1, 0] == 2.0  # adjacent twice
    assert x[0, 2] == 0.5 and x[1, 2] == 1.0


def test_fasttext_hash_and_ngrams():
    assert fnv1a("") == 2166136261 and fnv1a("a") == 0xE40C292C
    grams = char_ngrams("cat")
    assert {"<ca", "cat", "at>", "<cat", "cat>", "<cat>"} == set(grams)


def test_three_cos_add_on_hand_made_vectors():
    words = ["king", "queen", "man", "woman", "apple"]
    vecs = np.array([[1, 1, 0], [1, -1, 0], [0, 1, 0.1], [0, -1, 0.1], [5, 0, 5]], dtype=np.float32)
    wv = WordVectors(words, vecs)
    assert wv.analogy("king", "queen", "man") == "woman"
    assert analogy_accuracy(wv, [("king", "queen", "man", "woman"), ("x", "y", "z", "w")]) == 1.0


def test_planted_questions_and_held_out_forms():
    sentences = planted_corpus(np.random.default_rng(0), 500)
    seen = {w for s in sentences for w in s}
    assert all(plural not in seen and stem in seen for plural, stem in held_out_forms())
    assert len(analogy_questions()) == 4 * 10 * 9


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_word2vec_files_round_trip_through_gensim(tmp_path: Path, binary: bool):
    gensim = pytest.importorskip("gensim")
    rng = np.random.default_rng(0)
    ours = WordVectors(["the", "naïve", "東京", "x"], rng.normal(size=(4, 7)).astype(np.float32))
    ours.save(tmp_path / "ours", binary=binary)
    theirs = gensim.models.KeyedVectors.load_word2vec_format(str(tmp_path / "ours"), binary=binary)
    assert all(np.array_equal(theirs[w], ours[w]) for w in ours.words)
    theirs.save_word2vec_format(str(tmp_path / "theirs"), binary=binary)
    back = WordVectors.load(tmp_path / "theirs", binary=binary)
    assert back.words == ours.words and np.array_equal(back.vectors, ours.vectors)


def test_bad_vector_files_are_refused(tmp_path: Path):
    WordVectors(["a", "b"], np.ones((2, 3))).save(tmp_path / "v.bin", binary=True)
    data = (tmp_path / "v.bin").read_bytes()
    (tmp_path / "v.bin").write_bytes(data[:-5])
    with pytest.raises(DataFormatError, match="truncated"):
        WordVectors.load(tmp_path / "v.bin", binary=True)
    (tmp_path / "v.txt").write_text("two words\n")
    with pytest.raises(DataFormatError, match="first line"):
        WordVectors.load(tmp_path / "v.txt")
    with pytest.raises(ValueError, match="spaces"):
        WordVectors(["a b"], np.ones((1, 2))).save(tmp_path / "x.txt")


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("embeddings", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "embeddings" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert (tmp_path / "embeddings" / "relations.png").exists()


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "embeddings", "--quick", "--set", "dim=0"]) == 2
    assert "dim must be >= 1" in capsys.readouterr().err


def test_unseen_plural_claim_needs_training():
    """The stem is near an unseen plural by spelling alone, even before training; the claim's
    topic words are not, so an untrained model fails the claim."""
    from landmarks.embeddings.fasttext import train_fasttext
    from landmarks.papers.embeddings import unseen_neighbours

    sentences = planted_corpus(np.random.default_rng(0), 2000)
    untrained = train_fasttext(sentences, dim=50, epochs=0, seed=0)
    meaning, spelling = unseen_neighbours(untrained, held_out_forms())
    assert spelling >= 80  # what the claim used to measure: passed untrained
    assert meaning < 80  # what it measures now
