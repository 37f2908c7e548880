"""A retrieval set of paraphrase-like rewrites: find the line a query was rewritten from.

Each document is a line of verse or prose from the corpus; its query is the same line
rewritten the way a paraphrase changes a sentence while keeping its meaning: words dropped
(``drop``), words swapped for a synonym from a fixed table of Early Modern and modern English
(``swap``: thou ↔ you, hath ↔ has, ...), and neighbouring words exchanged (``reorder``). An
embedding model that maps a query nearest to its own line, among all the lines, has kept the
meaning and ignored the wording. Every rewrite is a function of (seed, line index).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

__all__ = ["SYNONYMS", "RetrievalSet", "corpus_lines", "retrieval_set", "rewrite"]

# one direction each; the table is used both ways
_PAIRS = [
    ("thou", "you"),
    ("thee", "you"),
    ("thy", "your"),
    ("thine", "yours"),
    ("hath", "has"),
    ("doth", "does"),
    ("art", "are"),
    ("ere", "before"),
    ("nay", "no"),
    ("aye", "yes"),
    ("oft", "often"),
    ("wherefore", "why"),
    ("hither", "here"),
    ("thither", "there"),
    ("whither", "where"),
    ("anon", "soon"),
    ("prithee", "please"),
    ("shalt", "shall"),
    ("wilt", "will"),
    ("canst", "can"),
    ("dost", "do"),
    ("hast", "have"),
    ("speak", "talk"),
    ("sweet", "dear"),
    ("fair", "lovely"),
    ("king", "monarch"),
    ("lord", "master"),
    ("love", "adore"),
    ("good", "fine"),
    ("great", "mighty"),
    ("man", "fellow"),
    ("woman", "lady"),
    ("come", "approach"),
    ("go", "leave"),
    ("death", "dying"),
    ("heart", "soul"),
    ("eyes", "sight"),
    ("fear", "dread"),
    ("night", "darkness"),
    ("day", "daylight"),
    ("father", "sire"),
    ("mother", "dam"),
    ("friend", "ally"),
    ("enemy", "foe"),
    ("kill", "slay"),
    ("tell", "say"),
    ("see", "behold"),
    ("think", "deem"),
    ("little", "small"),
    ("old", "aged"),
    ("young", "youthful"),
    ("true", "honest"),
]
SYNONYMS: dict[str, str] = {**{a: b for a, b in _PAIRS}, **{b: a for a, b in reversed(_PAIRS)}}
_WORD = re.compile(r"^([^A-Za-z']*)([A-Za-z']+)([^A-Za-z']*)$")


def _swap(token: str) -> str | None:
    """The token with its word replaced by the synonym, case and punctuation kept; None if none."""
    m = _WORD.match(token)
    if not m or m.group(2).lower() not in SYNONYMS:
        return None
    word = m.group(2)
    other = SYNONYMS[word.lower()]
    if word.isupper() and len(word) > 1:
        other = other.upper()
    elif word[0].isupper():
        other = other[0].upper() + other[1:]
    return m.group(1) + other + m.group(3)


def rewrite(
    line: str, rng: random.Random, drop: float = 0.15, swap: float = 0.8, reorder: float = 0.15
) -> str:
    """A paraphrase-like rewrite of ``line``: synonyms swapped, words dropped, neighbours exchanged."""
    words = [(_swap(w) or w) if rng.random() < swap else w for w in line.split()]
    kept = [w for w in words if rng.random() >= drop]
    if len(kept) < max(1, len(words) // 2):  # never drop more than half the line
        kept = words
    i = 0
    while i < len(kept) - 1:
        if rng.random() < reorder:
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
            i += 2
        else:
            i += 1
    return " ".join(kept)


def corpus_lines(text: str, min_words: int = 6, max_chars: int = 120) -> list[str]:
    """Distinct lines of ``text`` with at least ``min_words`` words and at most ``max_chars``
    characters, in order of first appearance."""
    seen: dict[str, None] = {}
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if len(line.split()) >= min_words and len(line) <= max_chars:
            seen.setdefault(line, None)
    return list(seen)


@dataclass(frozen=True)
class RetrievalSet:
    documents: list[str]
    queries: list[str]  # queries[i] is a rewrite of documents[i]


def retrieval_set(text: str, size: int, seed: int, **rewrite_kw: float) -> RetrievalSet:
    """``size`` lines of ``text`` drawn without replacement, and a rewrite of each."""
    lines = corpus_lines(text)
    if size > len(lines):
        raise ValueError(f"the text has {len(lines)} usable lines, fewer than the {size} asked for")
    documents = random.Random(seed).sample(lines, size)
    queries = [rewrite(d, random.Random(f"{seed}:{i}"), **rewrite_kw) for i, d in enumerate(documents)]
    return RetrievalSet(documents, queries)
