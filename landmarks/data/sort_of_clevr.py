"""Sort-of-CLEVR (Santoro et al., 2017, Sec. 3.2 and supplement D): images of six coloured objects and
questions about them, half of which need relations between objects.

Each image holds one square or circle of each of six colours (red, green, blue, orange, grey,
yellow) at random, non-overlapping places. A question names a colour and asks, in a fixed
encoding of 6 + 2 + 3 bits (colour one-hot, non-relational or relational, subtype):

- non-relational: the object's shape; is it on the left or the right of the image; at the top
  or the bottom;
- relational: the shape of the object closest to it; the shape of the object farthest from it;
  how many objects have its shape (1 to 6).

Everything is drawn for a whole batch of images at once, with NumPy broadcasting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ANSWERS",
    "COLOURS",
    "QUESTION_TYPES",
    "SortOfClevr",
    "generate_sort_of_clevr",
]

COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 0.8, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "orange": (1.0, 0.6, 0.0),
    "grey": (0.5, 0.5, 0.5),
    "yellow": (1.0, 1.0, 0.0),
}
QUESTION_TYPES = (
    ("non-relational", "shape"),
    ("non-relational", "left or right"),
    ("non-relational", "top or bottom"),
    ("relational", "shape of the closest"),
    ("relational", "shape of the farthest"),
    ("relational", "count of the same shape"),
)
ANSWERS = ("square", "circle", "left", "right", "top", "bottom", "1", "2", "3", "4", "5", "6")
QUESTION_SIZE = len(COLOURS) + 2 + 3


@dataclass
class SortOfClevr:
    images: Tensor  # (N, 3, H, W) in [0, 1]
    questions: Tensor  # (N, Q, 11): colour one-hot, relational flag pair, subtype one-hot
    answers: Tensor  # (N, Q) indices into ANSWERS
    kinds: Tensor  # (N, Q) indices into QUESTION_TYPES
    centres: np.ndarray  # (N, 6, 2) object centres (x, y) in pixels
    shapes: np.ndarray  # (N, 6): 0 square, 1 circle


def _place(rng: np.random.Generator, n: int, size: int, radius: float) -> np.ndarray:
    """(n, 6, 2) whole-pixel centres inside the image whose objects never touch: every two
    bounding squares a pixel apart at least (Chebyshev distance ≥ 2·radius + 2). Objects are
    placed one after another, for all images at once: a candidate that lands too close to an
    earlier object of its image is drawn again, and an image whose early objects leave no room
    is started over."""
    lo, hi = radius, size - 1 - radius
    gap = 2 * radius + 2
    centres = np.zeros((n, len(COLOURS), 2))
    pending = np.arange(n)
    for _ in range(100):
        active, restart = pending, []
        for j in range(len(COLOURS)):
            todo = active
            for _ in range(200):
                centres[todo, j] = np.round(rng.uniform(lo, hi, (len(todo), 2)))
                d = np.abs(centres[todo, :j] - centres[todo, j, None]).max(-1)  # Chebyshev  (todo, j)
                todo = todo[(d < gap).any(axis=1)]
                if not len(todo):
                    break
            restart.append(todo)  # no room left for object j in these: start them over
            active = np.setdiff1d(active, todo)
        pending = np.concatenate(restart)
        if not len(pending):
            return centres
    raise RuntimeError("could not place the objects without overlap: make the image larger")


def generate_sort_of_clevr(
    rng: np.random.Generator, images: int, size: int = 32, questions_per_kind: int = 2
) -> SortOfClevr:
    """``images`` images of ``size`` × ``size`` pixels, each with ``questions_per_kind``
    questions of each of the six kinds (about randomly chosen colours)."""
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels for six objects to fit, got {size}")
    k = len(COLOURS)
    radius = float(round(size / 10))  # objects about a fifth of the image across
    # Whole-pixel centres: a square and a circle this small only look different when drawn
    # on the pixel grid the same way every time.
    centres = _place(rng, images, size, radius)
    shapes = rng.integers(0, 2, (images, k))

    # Render: every object of every image at once, (N, 6, H, W) masks.
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    dx = xs[None, None] - centres[..., 0, None, None]
    dy = ys[None, None] - centres[..., 1, None, None]
    square = (np.abs(dx) <= radius) & (np.abs(dy) <= radius)
    circle = dx**2 + dy**2 <= (radius + 0.5) ** 2
    masks = np.where(shapes[..., None, None] == 0, square, circle)  # (N, 6, H, W)
    palette = np.array(list(COLOURS.values()), dtype=np.float32)  # (6, 3)
    canvas = np.einsum("nkhw,kc->nchw", masks.astype(np.float32), palette)
    canvas = np.clip(canvas, 0, 1)

    # Questions: each kind, about random colours.
    q = len(QUESTION_TYPES) * questions_per_kind
    kinds = np.tile(np.repeat(np.arange(len(QUESTION_TYPES)), questions_per_kind), (images, 1))  # (N, Q)
    subject = rng.integers(0, k, (images, q))  # the colour asked about
    rows = np.arange(images)[:, None]
    d = np.linalg.norm(centres[:, :, None] - centres[:, None], axis=-1)  # (N, 6, 6)
    d_self = d.copy()
    d_self[:, np.arange(k), np.arange(k)] = np.inf
    closest = d_self.argmin(-1)  # (N, 6)
    d_self[:, np.arange(k), np.arange(k)] = -np.inf
    farthest = d_self.argmax(-1)
    same_shape = (shapes[:, :, None] == shapes[:, None]).sum(-1)  # (N, 6), counting itself
    mid = (size - 1) / 2
    answer_by_kind = np.stack(
        [
            shapes[rows, subject],  # 0 square / 1 circle
            np.where(centres[rows, subject, 0] < mid, 2, 3),  # left / right
            np.where(centres[rows, subject, 1] < mid, 4, 5),  # top / bottom
            shapes[rows, closest[rows, subject]],
            shapes[rows, farthest[rows, subject]],
            5 + same_shape[rows, subject],  # "1" … "6"
        ]
    )  # (6 kinds, N, Q)
    answers = np.take_along_axis(answer_by_kind, kinds[None], 0)[0]
    encoded = np.zeros((images, q, QUESTION_SIZE), dtype=np.float32)
    np.put_along_axis(encoded, subject[..., None], 1.0, axis=-1)
    relational = kinds >= 3
    encoded[..., k] = ~relational
    encoded[..., k + 1] = relational
    encoded[rows, np.arange(q), k + 2 + kinds % 3] = 1.0
    return SortOfClevr(
        images=torch.from_numpy(canvas),
        questions=torch.from_numpy(encoded),
        answers=torch.from_numpy(answers.astype(np.int64)),
        kinds=torch.from_numpy(kinds.astype(np.int64)),
        centres=centres,
        shapes=shapes,
    )
