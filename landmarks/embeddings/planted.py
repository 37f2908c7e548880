"""A generated corpus with planted relations, so that analogy accuracy has a ground truth.

Words come in pairs related in one of four ways: gender (king, queen), number (cat, cats),
tense (walk, walked) and country–capital (france, paris). Each pair shares a *concept*, and
each side of a relation has an *attribute*. Every sentence is about one word: it mentions a
few topic words of the word's concept (royal words for king and queen), a few marker words of
its attribute ("he", "his" for male; "many", "several" for plural), and common filler words,
in random order, with the word in the middle. So the contexts of a word are those of its
concept plus those of its attribute, the distributional picture under which b − a + c ≈ d
(Mikolov et al., 2013): queen − king + man ≈ woman.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "HELD_OUT_STEMS",
    "RELATIONS",
    "analogy_questions",
    "held_out_forms",
    "held_out_topics",
    "planted_corpus",
]

RELATIONS: dict[str, tuple[tuple[str, str], tuple[tuple[str, str], ...]]] = {
    # relation: ((attribute of the first words, of the second), pairs)
    "gender": (
        ("male", "female"),
        (
            ("king", "queen"),
            ("man", "woman"),
            ("boy", "girl"),
            ("prince", "princess"),
            ("father", "mother"),
            ("son", "daughter"),
            ("brother", "sister"),
            ("uncle", "aunt"),
            ("husband", "wife"),
            ("lord", "lady"),
        ),
    ),
    "plural": (
        ("singular", "plural"),
        (
            ("cat", "cats"),
            ("dog", "dogs"),
            ("horse", "horses"),
            ("tree", "trees"),
            ("house", "houses"),
            ("river", "rivers"),
            ("bird", "birds"),
            ("apple", "apples"),
            ("car", "cars"),
            ("book", "books"),
        ),
    ),
    "tense": (
        ("present", "past"),
        (
            ("walk", "walked"),
            ("jump", "jumped"),
            ("play", "played"),
            ("talk", "talked"),
            ("cook", "cooked"),
            ("climb", "climbed"),
            ("paint", "painted"),
            ("clean", "cleaned"),
            ("open", "opened"),
            ("watch", "watched"),
        ),
    ),
    "capital": (
        ("country", "city"),
        (
            ("france", "paris"),
            ("spain", "madrid"),
            ("italy", "rome"),
            ("japan", "tokyo"),
            ("egypt", "cairo"),
            ("peru", "lima"),
            ("kenya", "nairobi"),
            ("norway", "oslo"),
            ("greece", "athens"),
            ("chile", "santiago"),
        ),
    ),
}

MARKERS = {
    "male": ("he", "his", "him", "himself"),
    "female": ("she", "her", "hers", "herself"),
    "singular": ("one", "single", "this", "lone"),
    "plural": ("many", "several", "these", "few"),
    "present": ("today", "now", "always", "usually"),
    "past": ("yesterday", "ago", "once", "earlier"),
    "country": ("nation", "border", "government", "territory"),
    "city": ("streets", "downtown", "mayor", "district"),
}
FILLER = ("the", "a", "and", "of", "to", "in", "with", "was", "it", "that")
# Nouns seen only in the singular: their plurals never occur, to test vectors for unseen words.
HELD_OUT_STEMS = (
    "table",
    "chair",
    "window",
    "garden",
    "bottle",
    "candle",
    "pocket",
    "basket",
    "button",
    "ladder",
)
TOPICS_PER_CONCEPT = 4


def _concept_topics(relation: str, index: int) -> tuple[str, ...]:
    return tuple(f"{relation}{index}topic{k}" for k in range(TOPICS_PER_CONCEPT))


def planted_corpus(
    rng: np.random.Generator,
    sentences: int,
    topic_words: int = 3,
    marker_words: int = 2,
    filler_words: int = 3,
) -> list[list[str]]:
    """``sentences`` sentences, each about one word drawn uniformly from all pairs' words and
    the singular-only nouns."""
    entries = []
    for relation, ((attr_a, attr_b), pairs) in RELATIONS.items():
        for i, (a, b) in enumerate(pairs):
            topics = _concept_topics(relation, i)
            entries.append((a, topics, MARKERS[attr_a]))
            entries.append((b, topics, MARKERS[attr_b]))
    for i, stem in enumerate(HELD_OUT_STEMS):
        entries.append((stem, _concept_topics("heldout", i), MARKERS["singular"]))
    out = []
    for k in rng.integers(0, len(entries), sentences):
        word, topics, markers = entries[k]
        context = [
            str(w)
            for w in (
                *rng.choice(topics, topic_words),
                *rng.choice(markers, marker_words),
                *rng.choice(FILLER, filler_words),
            )
        ]
        rng.shuffle(context)
        half = len(context) // 2
        out.append([*context[:half], word, *context[half:]])
    return out


def held_out_forms() -> list[tuple[str, str]]:
    """(unseen plural, its stem) for the nouns the corpus has only in the singular."""
    return [(stem + "s", stem) for stem in HELD_OUT_STEMS]


def held_out_topics() -> dict[str, tuple[str, ...]]:
    """The topic words each held-out stem's sentences carry (they share no spelling with it)."""
    return {stem: _concept_topics("heldout", i) for i, stem in enumerate(HELD_OUT_STEMS)}


def analogy_questions() -> list[tuple[str, str, str, str]]:
    """a : b :: c : d for every ordered pair of distinct pairs within each relation."""
    questions = []
    for _, pairs in RELATIONS.values():
        for a, b in pairs:
            for c, d in pairs:
                if a != c:
                    questions.append((a, b, c, d))
    return questions
