"""Word vectors: word2vec (Mikolov et al., 2013), GloVe (Pennington, Socher, Manning, 2014) and
fastText subword vectors (Bojanowski et al., 2017).

Three ways to learn a vector per word from which words occur near which
(``landmarks.embeddings``): skip-gram predicts a word's neighbours from it; GloVe fits the log
of a co-occurrence count; fastText builds a word from its character n-grams, so even a word
never seen gets a vector.

``reproduce`` trains all three on a generated corpus with planted relations
(``landmarks.embeddings.planted``: gender, number, tense, country–capital, so every analogy
has a known answer) and measures:

1. analogy accuracy by 3CosAdd (king : queen :: man : ?) for skip-gram and GloVe;
2. for plurals that never occur in the corpus (the singular does), whether the stem and a
   topic word of its concept (which shares no n-gram with the plural) are among the 10 nearest
   words of fastText's vector for the plural; a word-level model has no vector for them at all;
3. interop with gensim when it is installed: our vectors saved in the word2vec format load in
   gensim with identical numbers and gensim's ``evaluate_word_analogies`` gives our accuracy;
   gensim's own skip-gram on the same corpus and threads, for speed.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from landmarks.embeddings.fasttext import SubwordVectors, train_fasttext
from landmarks.embeddings.glove import train_glove
from landmarks.embeddings.planted import (
    RELATIONS,
    analogy_questions,
    held_out_forms,
    held_out_topics,
    planted_corpus,
)
from landmarks.embeddings.vectors import WordVectors, analogy_accuracy
from landmarks.embeddings.word2vec import train_word2vec
from landmarks.engine import Run
from landmarks.registry import Card, ClaimSpec

__all__ = ["CARD", "PRESETS", "Config", "reproduce"]

CARD = Card(
    citation=(
        "Tomas Mikolov, Kai Chen, Greg Corrado, Jeffrey Dean. Efficient Estimation of Word "
        "Representations in Vector Space. arXiv:1301.3781, 2013. Tomas Mikolov, Ilya Sutskever, Kai "
        "Chen, Greg Corrado, Jeffrey Dean. Distributed Representations of Words and Phrases and their "
        "Compositionality. NIPS 2013. Jeffrey Pennington, Richard Socher, Christopher D. Manning. "
        "GloVe: Global Vectors for Word Representation. EMNLP 2014. Piotr Bojanowski, Edouard Grave, "
        "Armand Joulin, Tomas Mikolov. Enriching Word Vectors with Subword Information. TACL 2017."
    ),
    takeaways=[
        "Words that occur in similar contexts get similar vectors, and relations become directions: "
        "king − man + woman ≈ queen.",
        "Skip-gram with negative sampling learns from local windows; GloVe fits global "
        "co-occurrence counts; on analogies they land close to each other.",
        "Character n-grams give vectors to words never seen, near the words they share n-grams with.",
    ],
    claims=[
        ClaimSpec(
            "Skip-gram analogy accuracy on the planted relations (3CosAdd), %",
            ">= 70",
            "Mikolov et al. NIPS 2013, Table 1: 61 % on the Google analogy set (300-d skip-gram, negative sampling)",
        ),
        ClaimSpec(
            "fastText: unseen plurals with their stem and a topic word of their concept among the "
            "10 nearest words, % (the topic words share no character n-gram with them; a "
            "word-level model has no vector for them)",
            ">= 80",
            "Bojanowski et al. Sec. 6.3 and Fig. 2: out-of-vocabulary words get meaningful vectors "
            "from their n-grams (and Table 1: sisg, which builds them from n-grams, against sisg−, "
            "which gives them null vectors)",
        ),
        ClaimSpec(
            "GloVe's analogy accuracy minus skip-gram's, |points|",
            "<= 15",
            "Pennington et al. Table 2: GloVe and skip-gram within a few points on the analogy task",
        ),
    ],
    keeps=[
        "skip-gram and CBOW with negative sampling (unigram^0.75 noise), subsampling of frequent "
        "words and the reduced window, as the word2vec tool does them (CBOW's accuracy is a metric)",
        "GloVe's weighted least squares with f(x) = (x/100)^0.75, 1/distance weighting, AdaGrad, w + w̃",
        "fastText's n-grams of 3 to 6 characters with < > boundaries, hashed by FNV-1a, plus the word itself",
        "3CosAdd analogies, and the word2vec text and binary formats gensim reads",
    ],
    shrinks=[
        "a generated corpus of 20,000 sentences (180,000 words, a vocabulary of 332) with "
        "planted relations, where analogies are far easier than on real text (paper: 6 B words of news)",
        "50 dimensions (paper: 300), 5 epochs, Adam on batches of 4,096 pairs instead of the tools' "
        "per-pair SGD; GloVe full-batch on every non-zero cell; 16,384 n-gram buckets (fastText: 2 M)",
    ],
    figures={
        "Mikolov et al. 2013 (NIPS), Sec. 2.2": "negative sampling, noise ∝ count^0.75; Sec. 2.3 subsampling",
        "Pennington et al., Eq. 8-9": "J = Σ f(X_ij)(w_i·w̃_j + b_i + b̃_j − log X_ij)², x_max = 100, α = 3/4",
        "Bojanowski et al., Sec. 3.2": "n-grams of 3 to 6 characters with boundary symbols, hashed to 2 M buckets",
    },
    notes=(
        "Until 2026-11-29 claim 2 asked only for the stem among an unseen plural's 10 nearest "
        "words, and passed at 100 % on every seed; but an untrained model passes it too: the "
        "plural's vector is the mean of its n-grams' rows, most of which it shares with the stem, "
        "so the stem is near by construction, whatever was learned. The claim now also asks for "
        "one of the concept's topic words, which share no n-gram with the plural, so that only "
        "what the shared n-grams learned from the stem's contexts can bring them near (Sec. 6.3's "
        "point: meaningful vectors for words never seen). The run measures both scores for the "
        "trained model and for the same model before training (metric unseen_plurals_percent)."
    ),
)


@dataclass(frozen=True)
class Config:
    sentences: int = 20000
    dim: int = 50
    window: int = 5
    epochs: int = 5

    def validate(self) -> None:
        for name in ("sentences", "dim", "window", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


PRESETS = {"default": Config(), "quick": Config(sentences=300, dim=8, epochs=1)}


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    sentences = planted_corpus(run.rng("corpus"), cfg.sentences)
    n_words = sum(map(len, sentences))
    questions = analogy_questions()
    seed = int(run.rng("init").integers(2**31))
    seconds = {}

    began = time.perf_counter()
    skip_gram = train_word2vec(sentences, cfg.dim, cfg.window, epochs=cfg.epochs, seed=seed)
    seconds["skip_gram"] = time.perf_counter() - began
    began = time.perf_counter()
    cbow = train_word2vec(sentences, cfg.dim, cfg.window, epochs=cfg.epochs, seed=seed, cbow=True)
    seconds["cbow"] = time.perf_counter() - began
    began = time.perf_counter()
    glove = train_glove(sentences, cfg.dim, cfg.window, seed=seed)
    seconds["glove"] = time.perf_counter() - began
    began = time.perf_counter()
    fasttext = train_fasttext(sentences, cfg.dim, cfg.window, epochs=cfg.epochs, seed=seed)
    seconds["fasttext"] = time.perf_counter() - began

    trained = (("skip_gram", skip_gram), ("cbow", cbow), ("glove", glove))
    accuracy = {name: 100 * analogy_accuracy(v, questions) for name, v in trained}
    accuracy["fasttext"] = 100 * analogy_accuracy(fasttext.word_vectors(), questions)
    forms = held_out_forms()
    with_unseen = fasttext.word_vectors([plural for plural, _ in forms])
    meaning, spelling = unseen_neighbours(fasttext, forms)
    # the same measures before any training: what the shared n-grams give by construction
    untrained = train_fasttext(sentences, cfg.dim, cfg.window, epochs=0, seed=seed)
    meaning_untrained, spelling_untrained = unseen_neighbours(untrained, forms)
    word_level_has = sum(plural in skip_gram for plural, _ in forms)

    run.metric("corpus_words", n_words)
    run.metric("vocabulary", len(skip_gram.words))
    run.metric("analogy_accuracy_percent", {k: round(v, 2) for k, v in accuracy.items()})
    run.metric("unseen_plurals_with_a_word_level_vector", word_level_has)
    run.metric(
        "unseen_plurals_percent",
        {
            "stem_and_topic_in_10_nearest": {"trained": meaning, "untrained": meaning_untrained},
            "stem_in_10_nearest": {"trained": spelling, "untrained": spelling_untrained},
        },
    )
    run.metric("nearest_to_unseen", {p: [w for w, _ in with_unseen.most_similar(p, 3)] for p, _ in forms[:3]})
    run.metric("train_seconds", {k: round(v, 2) for k, v in seconds.items()})
    run.metric("skip_gram_words_per_second", round(cfg.epochs * n_words / seconds["skip_gram"]))
    run.metric("gensim", _gensim(cfg, run, sentences, skip_gram, questions, seed))
    run.check(CARD.claims[0], accuracy["skip_gram"])
    run.check(CARD.claims[1], meaning)
    run.check(CARD.claims[2], abs(accuracy["glove"] - accuracy["skip_gram"]))
    _plot(run, skip_gram)


def unseen_neighbours(model: SubwordVectors, forms: list[tuple[str, str]]) -> tuple[float, float]:
    """For unseen words (plural, stem): the % whose 10 nearest words hold the stem and one of its
    topic words, and the % that hold the stem. The stem shares most of the plural's character
    n-grams, so it is near even in an untrained model; a topic word shares none, so only what
    the n-grams learned from the stem's contexts can bring it near."""
    topics = held_out_topics()
    vectors = model.word_vectors([plural for plural, _ in forms])
    both = stem_only = 0
    for plural, stem in forms:
        near = {w for w, _ in vectors.most_similar(plural, 10)}
        stem_only += stem in near
        both += stem in near and not near.isdisjoint(topics[stem])
    return 100 * both / len(forms), 100 * stem_only / len(forms)


def _gensim(cfg: Config, run: Run, sentences, ours: WordVectors, questions, seed: int) -> dict | None:  # type: ignore[no-untyped-def]
    """Our files in gensim, gensim's analogy evaluation of our vectors, gensim's speed."""
    try:
        from gensim.models import KeyedVectors, Word2Vec
    except ImportError:
        return None
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for binary in (False, True):
            path = Path(tmp) / f"vectors.{'bin' if binary else 'txt'}"
            ours.save(path, binary=binary)
            theirs = KeyedVectors.load_word2vec_format(str(path), binary=binary)
            diff = max(float(np.abs(theirs[w] - ours[w]).max()) for w in ours.words)
            out[f"max_difference_{'binary' if binary else 'text'}"] = diff
        lines = []
        for relation, (_, pairs) in RELATIONS.items():
            lines.append(f": {relation}")
            lines += [f"{a} {b} {c} {d}" for a, b, c, d in questions if (a, b) in pairs]
        qpath = Path(tmp) / "questions.txt"
        qpath.write_text("\n".join(lines) + "\n")
        score, _ = theirs.evaluate_word_analogies(str(qpath), case_insensitive=False)
        out["gensim_accuracy_of_our_vectors_percent"] = round(100 * score, 2)
    threads = max(1, torch.get_num_threads())
    began = time.perf_counter()
    model = Word2Vec(
        sentences,
        vector_size=cfg.dim,
        window=cfg.window,
        min_count=1,
        sg=1,
        negative=5,
        epochs=cfg.epochs,
        workers=threads,
        seed=seed % 2**31,
    )
    elapsed = time.perf_counter() - began
    n_words = sum(map(len, sentences))
    out["gensim_words_per_second"] = round(cfg.epochs * n_words / elapsed)
    out["gensim_skip_gram_accuracy_percent"] = round(
        100 * analogy_accuracy(WordVectors(list(model.wv.index_to_key), model.wv.vectors), questions), 2
    )
    out["threads"] = threads
    return out


def _plot(run: Run, vectors: WordVectors) -> None:
    from landmarks.plots import plt

    fig, axes = plt.subplots(1, len(RELATIONS), figsize=(4.2 * len(RELATIONS), 4.2))
    for ax, (relation, (_, all_pairs)) in zip(axes, RELATIONS.items(), strict=True):
        pairs = [(a, b) for a, b in all_pairs if a in vectors and b in vectors]  # a tiny corpus may lack some
        if len(pairs) < 2:
            continue
        shown = [w for pair in pairs for w in pair]
        m = np.stack([vectors[w] for w in shown])
        m = m - m.mean(0)
        _, _, vt = np.linalg.svd(m, full_matrices=False)  # PCA of this relation's words
        xy = m @ vt[:2].T
        for k, (a, b) in enumerate(pairs):
            (xa, ya), (xb, yb) = xy[2 * k], xy[2 * k + 1]
            ax.annotate("", (xb, yb), (xa, ya), arrowprops={"arrowstyle": "->", "color": "C0", "alpha": 0.6})
            ax.text(xa, ya, a, fontsize=7)
            ax.text(xb, yb, b, fontsize=7, color="C3")
        ax.set_title(f"{relation}: first → second word")
        ax.set_xticks([])
        ax.set_yticks([])
    run.save_figure(
        fig, "relations", "Skip-gram vectors, PCA per relation: the planted relation as parallel arrows"
    )
