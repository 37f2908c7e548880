"""Image–caption pairs from the procedural shapes, with concepts drawn at Zipf frequencies.

A pretraining set for a small CLIP (``no-zero-shot``). Every image is one object from
``landmarks.data.shapes``, drawn there with a chosen colour and a chosen place; its caption is
templated text from those attributes, at word level:

    "a red star on the left"   "a disk"   "a blue ring in the middle"   "a checkerboard"

The *concept* is the shape (the noun every caption names). Concepts are drawn with Zipf
frequencies, p_r ∝ r^(−s) for the concept of rank r, so a few concepts fill most of the set and
the rest form a long tail, as nouns do in web-scale image–text data; the colour and the place
are drawn uniformly, and each is named in the caption with probability ``mention`` (captions
are partial, as alt-text is). ``concept_counts`` counts how often each concept occurs in a set:
the number that Udandarao et al. (2024) estimate for web data and relate to zero-shot accuracy.

A held-out set for zero-shot evaluation is balanced instead (``balanced=True``: equal images per
concept). Everything is drawn from a generator fixed by (seed, split), vectorized over images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from landmarks.data.shapes import CHUNK, CLASSES, SIZE, _draw
from landmarks.engine.seeding import torch_generator

__all__ = [
    "COLOURS",
    "PLACES",
    "VOCABULARY",
    "CaptionedShapes",
    "caption_words",
    "concept_counts",
    "concept_prompts",
    "generate_pairs",
    "tokenize",
    "zipf_probabilities",
]

CONCEPTS = CLASSES  # the ten shapes
COLOURS: dict[str, tuple[float, float, float]] = {  # the object's colour; the background contrasts with it
    "red": (0.85, 0.15, 0.15),
    "green": (0.2, 0.75, 0.2),
    "blue": (0.15, 0.3, 0.9),
    "yellow": (0.9, 0.85, 0.15),
    "purple": (0.6, 0.2, 0.75),
    "white": (0.95, 0.95, 0.95),
}
# where the object's centre lies along x, as a third of its free range (y stays uniform)
PLACES: dict[str, tuple[float, float]] = {
    "left": (0.0, 1 / 3),
    "middle": (1 / 3, 2 / 3),
    "right": (2 / 3, 1.0),
}
_PLACE_WORDS = {
    "left": ("on", "the", "left"),
    "middle": ("in", "the", "middle"),
    "right": ("on", "the", "right"),
}

PAD, EOS = "<pad>", "<eos>"
VOCABULARY: tuple[str, ...] = (
    PAD,
    EOS,
    "a",
    *COLOURS,
    *CONCEPTS,
    *dict.fromkeys(w for words in _PLACE_WORDS.values() for w in words),
)
_INDEX = {w: i for i, w in enumerate(VOCABULARY)}
MAX_WORDS = 1 + 1 + 1 + 3 + 1  # "a", colour, shape, place (3 words), <eos>


def zipf_probabilities(k: int, exponent: float) -> Tensor:
    """p_r = r^(−s) / Σ_j j^(−s) for ranks r = 1..k: the share of the data of the r-th concept."""
    weights = torch.arange(1, k + 1, dtype=torch.float64) ** (-exponent)
    return weights / weights.sum()


def caption_words(concept: int, colour: int | None, place: int | None) -> list[str]:
    """The caption of one object: "a [colour] shape [place]", leaving out what is None."""
    words = ["a"]
    if colour is not None:
        words.append(list(COLOURS)[colour])
    words.append(CONCEPTS[concept])
    if place is not None:
        words.extend(_PLACE_WORDS[list(PLACES)[place]])
    return words


def tokenize(captions: Sequence[Sequence[str]]) -> Tensor:
    """Word ids (N, MAX_WORDS): each caption's words, then <eos>, then padding (id 0)."""
    ids = torch.zeros(len(captions), MAX_WORDS, dtype=torch.long)
    for i, words in enumerate(captions):
        row = [_INDEX[w] for w in words] + [_INDEX[EOS]]
        ids[i, : len(row)] = torch.tensor(row)
    return ids


def concept_prompts(concept: int) -> list[list[str]]:
    """Every caption the template can write for ``concept`` (with and without each colour and
    place): the class prompts whose embeddings are averaged for zero-shot classification."""
    colours: list[int | None] = [None, *range(len(COLOURS))]
    places: list[int | None] = [None, *range(len(PLACES))]
    return [caption_words(concept, c, p) for c in colours for p in places]


@dataclass(frozen=True)
class CaptionedShapes:
    images: Tensor  # (N, 3, 32, 32) uint8
    tokens: Tensor  # (N, MAX_WORDS) int64 word ids, <eos>-terminated, 0-padded
    concepts: Tensor  # (N,) int64, index into CONCEPTS
    colours: Tensor  # (N,) int64, index into COLOURS (the image's; the caption may omit it)
    places: Tensor  # (N,) int64, index into PLACES

    def __len__(self) -> int:
        return len(self.concepts)

    def caption(self, i: int) -> str:
        words = [VOCABULARY[t] for t in self.tokens[i].tolist()]
        return " ".join(words[: words.index(EOS)])


def generate_pairs(
    n: int,
    seed: int,
    split: str,
    probabilities: Tensor | None = None,
    mention: float = 0.5,
) -> CaptionedShapes:
    """``n`` image–caption pairs fixed by (seed, split).

    ``probabilities`` (10,): each concept's share, the concepts drawn independently with them
    (a Zipf set: ``zipf_probabilities`` permuted to the concepts); None: balanced, exactly
    ``n / 10`` images per concept (n a multiple of 10) in a shuffled order.
    """
    k = len(CONCEPTS)
    if not 0.0 <= mention <= 1.0:
        raise ValueError(f"mention must be a probability in [0, 1], got {mention}")
    g = torch_generator(seed, "captioned-shapes", split)
    if probabilities is None:
        if n % k:
            raise ValueError(f"a balanced set needs a multiple of {k} images, got {n}")
        concepts = (torch.arange(n) % k)[torch.randperm(n, generator=g)]
    else:
        if probabilities.shape != (k,) or (probabilities < 0).any() or not probabilities.sum() > 0:
            raise ValueError(f"probabilities must be {k} non-negative numbers, got {probabilities}")
        concepts = torch.multinomial(probabilities.double(), n, replacement=True, generator=g)
    colours = torch.randint(len(COLOURS), (n,), generator=g)
    places = torch.randint(len(PLACES), (n,), generator=g)
    say_colour = torch.rand(n, generator=g) < mention
    say_place = torch.rand(n, generator=g) < mention

    palette = torch.tensor(list(COLOURS.values()))  # (C, 3)
    bounds = torch.tensor(list(PLACES.values()))  # (P, 2): the x range of each place
    lo, hi = bounds[places, 0], bounds[places, 1]
    xy = torch.stack([lo + (hi - lo) * torch.rand(n, generator=g), torch.rand(n, generator=g)], dim=1)
    images = torch.empty(n, 3, SIZE, SIZE, dtype=torch.uint8)
    for start in range(0, n, CHUNK):
        part = slice(start, start + CHUNK)
        drawn = _draw(concepts[part], g, object_colours=palette[colours[part]], places=xy[part])
        images[part] = (drawn * 255).round().to(torch.uint8)

    captions = [
        caption_words(int(c), int(col) if sc else None, int(p) if sp else None)
        for c, col, p, sc, sp in zip(
            concepts.tolist(), colours.tolist(), places.tolist(), say_colour.tolist(), say_place.tolist()
        )
    ]
    return CaptionedShapes(images, tokenize(captions), concepts, colours, places)


def concept_counts(concepts: Tensor | np.ndarray) -> list[int]:
    """How many pairs of a set show each concept (the captions always name it): (10,)."""
    return torch.bincount(torch.as_tensor(concepts), minlength=len(CONCEPTS)).tolist()
