"""landmarks.data.sort_of_clevr: every answer agrees with what the pixels show."""

from __future__ import annotations

import numpy as np
import torch

from landmarks.data.sort_of_clevr import ANSWERS, COLOURS, QUESTION_TYPES, generate_sort_of_clevr


def _masks(image: torch.Tensor) -> list[np.ndarray]:
    pixels = image.permute(1, 2, 0).numpy()
    return [np.all(np.abs(pixels - np.array(c)) < 1e-6, axis=-1) for c in COLOURS.values()]


def test_answers_agree_with_the_pixels():
    data = generate_sort_of_clevr(np.random.default_rng(0), 60, 32, 2)
    full_square = None
    for n in range(60):
        masks = _masks(data.images[n])
        areas = [int(m.sum()) for m in masks]
        full_square = max(areas) if full_square is None else max(full_square, *areas)
        centre = [np.argwhere(m).mean(0)[::-1] for m in masks]  # (x, y) of each colour's pixels
        shape = np.array([0 if a == 49 else 1 for a in areas])  # from the pixels: 7×7 square, else circle
        for k in range(data.questions.shape[1]):
            q, kind, answer = (
                data.questions[n, k],
                QUESTION_TYPES[int(data.kinds[n, k])][1],
                ANSWERS[int(data.answers[n, k])],
            )
            c = int(q[:6].argmax())
            others = [j for j in range(6) if j != c]
            distance = {j: np.linalg.norm(centre[j] - centre[c]) for j in others}
            expected = {
                "shape": shape[c],
                "left or right": "left" if centre[c][0] < 15.5 else "right",
                "top or bottom": "top" if centre[c][1] < 15.5 else "bottom",
                "shape of the closest": shape[min(distance, key=distance.get)],
                "shape of the farthest": shape[max(distance, key=distance.get)],
                "count of the same shape": str(int((shape == shape[c]).sum())),
            }[kind]
            if kind.startswith("shape"):
                expected = ("square", "circle")[int(expected)]
            assert answer == expected, (n, kind)
        # every object is drawn whole (no overlaps), squares larger than circles
        assert all(a == (49 if s == 0 else 37) for a, s in zip(areas, data.shapes[n], strict=True))
    assert full_square == 49


def test_question_encoding_and_balance():
    data = generate_sort_of_clevr(np.random.default_rng(1), 500, 32, 3)
    q = data.questions
    assert q.shape == (500, 18, 11)
    assert (
        torch.all(q[..., :6].sum(-1) == 1)
        and torch.all(q[..., 6:8].sum(-1) == 1)
        and torch.all(q[..., 8:].sum(-1) == 1)
    )
    relational = data.kinds >= 3
    assert torch.equal(q[..., 7].bool(), relational)
    binary = data.answers[data.kinds == 1]
    assert abs(float((binary == 2).float().mean()) - 0.5) < 0.08


def test_seeded():
    a = generate_sort_of_clevr(np.random.default_rng(2), 20)
    b = generate_sort_of_clevr(np.random.default_rng(2), 20)
    assert torch.equal(a.images, b.images) and torch.equal(a.answers, b.answers)
