"""The one registry of papers. The CLI, the report and the tests all read it.

Entries are plain data so that ``landmarks list`` answers without importing torch. Each entry
names the module that implements it; that module carries the paper's ``CARD`` and its
``Config``, ``PRESETS`` and ``reproduce(cfg, run)``.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from types import ModuleType

from landmarks.errors import UserInputError

TRACKS = {
    1: "recurrence, attention and sequences",
    2: "convolutional vision",
    3: "information, compression and intelligence",
    4: "scale",
    5: "2022 and vision transformers",
    6: "2024",
    7: "the practitioner's toolkit",
}


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    authors: str
    year: int
    url: str  # arXiv abs page or the canonical URL
    track: int
    takeaway: str  # one line
    module: str  # dotted path of the implementing module

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


@dataclass(frozen=True)
class ClaimSpec:
    """A claim as the card states it, before any run: statement, threshold, paper's figure."""

    statement: str
    threshold: str
    paper_value: str


@dataclass(frozen=True)
class Card:
    """What a reader needs beside the code: citation, figures, what the toy keeps and shrinks."""

    citation: str
    takeaways: list[str]
    claims: list[ClaimSpec]
    keeps: list[str]
    shrinks: list[str]
    figures: dict[str, str] = field(default_factory=dict)  # the paper's reference numbers
    notes: str = ""


PAPERS: list[Paper] = [
    Paper(
        id="lstm",
        title="Understanding LSTM Networks",
        authors="Christopher Olah",
        year=2015,
        url="https://colah.github.io/posts/2015-08-Understanding-LSTMs/",
        track=1,
        takeaway="Gated cell state lets gradients survive long time lags where a vanilla RNN's vanish.",
        module="landmarks.papers.lstm",
    ),
    Paper(
        id="resnet",
        title="Deep Residual Learning for Image Recognition",
        authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
        year=2015,
        url="https://arxiv.org/abs/1512.03385",
        track=2,
        takeaway="Identity shortcuts remove the degradation problem: deeper residual nets train better, deeper plain nets worse.",
        module="landmarks.papers.resnet",
    ),
    Paper(
        id="coffee-automaton",
        title="Quantifying the Rise and Fall of Complexity in Closed Systems: The Coffee Automaton",
        authors="Scott Aaronson, Sean M. Carroll, Lauren Ouellette",
        year=2014,
        url="https://arxiv.org/abs/1405.6903",
        track=3,
        takeaway="Entropy rises monotonically while apparent complexity rises and then falls as coffee and cream mix.",
        module="landmarks.papers.coffee_automaton",
    ),
]

_BY_ID = {p.id: p for p in PAPERS}


class UnknownPaper(UserInputError, KeyError):
    def __init__(self, wanted: str) -> None:
        self.wanted = wanted
        self.closest = closest_ids(wanted)
        super().__init__(wanted)

    def __str__(self) -> str:
        hint = (
            f" Did you mean: {', '.join(self.closest)}?"
            if self.closest
            else f" Known ids: {', '.join(ids())}."
        )
        return f"unknown paper id {self.wanted!r}.{hint} (`landmarks list` shows them all)"


def ids() -> list[str]:
    return [p.id for p in PAPERS]


def get(paper_id: str) -> Paper:
    try:
        return _BY_ID[paper_id]
    except KeyError:
        raise UnknownPaper(paper_id) from None


def closest_ids(wanted: str, n: int = 3) -> list[str]:
    close = difflib.get_close_matches(wanted, ids(), n=n, cutoff=0.4)
    prefix = [i for i in ids() if i.startswith(wanted) or wanted in i]
    return list(dict.fromkeys(prefix + close))[:n]
