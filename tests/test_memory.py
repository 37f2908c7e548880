"""landmarks.nn.memory: the NTM's addressing and memory operations."""

from __future__ import annotations

import torch

from landmarks.nn import memory as mem


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_weightings_are_distributions():
    b, h, n, m = 3, 2, 7, 5
    memory, prev = _random(b, n, m), torch.softmax(_random(b, h, n, seed=1), -1)
    w = mem.address(
        memory,
        prev,
        key=_random(b, h, m, seed=2),
        strength=torch.rand(b, h, dtype=torch.float64) * 5,
        gate=torch.rand(b, h, dtype=torch.float64),
        shift=torch.softmax(_random(b, h, 3, seed=3), -1),
        gamma=1 + torch.rand(b, h, dtype=torch.float64) * 3,
    )
    assert w.shape == (b, h, n)
    assert torch.all(w >= 0) and torch.allclose(w.sum(-1), torch.ones(b, h, dtype=torch.float64))


def test_content_addressing_finds_the_matching_row():
    memory = _random(2, 6, 4)
    key = memory[:, [4]] * 3.0  # a scaled copy of row 4: cosine similarity 1
    w = mem.content_addressing(memory, key, torch.full((2, 1), 50.0, dtype=torch.float64))
    assert torch.equal(w.argmax(-1), torch.full((2, 1), 4))
    uniform = mem.content_addressing(memory, key, torch.zeros(2, 1, dtype=torch.float64))
    assert torch.allclose(uniform, torch.full_like(uniform, 1 / 6))


def test_shift_of_plus_one_rolls_the_weighting_by_one():
    w = torch.softmax(_random(2, 3, 8), -1)
    plus_one = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(2, 3, 3)
    assert torch.allclose(mem.circular_shift(w, plus_one), w.roll(1, dims=-1))
    identity = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand(2, 3, 3)
    assert torch.allclose(mem.circular_shift(w, identity), w)


def test_interpolation_and_sharpening():
    content, prev = torch.softmax(_random(1, 1, 5), -1), torch.softmax(_random(1, 1, 5, seed=1), -1)
    assert torch.allclose(mem.interpolate(content, prev, torch.ones(1, 1, dtype=torch.float64)), content)
    assert torch.allclose(mem.interpolate(content, prev, torch.zeros(1, 1, dtype=torch.float64)), prev)
    w = torch.tensor([[[0.1, 0.2, 0.7]]], dtype=torch.float64)
    assert torch.allclose(mem.sharpen(w, torch.ones(1, 1, dtype=torch.float64)), w)
    sharper = mem.sharpen(w, torch.full((1, 1), 4.0, dtype=torch.float64))
    assert sharper[0, 0, 2] > 0.95


def test_erase_one_and_add_zero_clears_the_row():
    memory = _random(2, 5, 4)
    w = torch.zeros(2, 1, 5, dtype=torch.float64)
    w[:, 0, 3] = 1.0
    out = mem.erase_and_add(
        memory, w, torch.ones(2, 1, 4, dtype=torch.float64), torch.zeros(2, 1, 4, dtype=torch.float64)
    )
    assert torch.all(out[:, 3] == 0)
    assert torch.equal(out[:, [0, 1, 2, 4]], memory[:, [0, 1, 2, 4]])


def test_write_then_read_returns_what_was_added():
    memory = torch.zeros(1, 4, 3, dtype=torch.float64)
    w = torch.tensor([[[0.0, 1.0, 0.0, 0.0]]], dtype=torch.float64)
    add = torch.tensor([[[1.0, -2.0, 0.5]]], dtype=torch.float64)
    memory = mem.erase_and_add(memory, w, torch.ones(1, 1, 3, dtype=torch.float64), add)
    assert torch.allclose(mem.read(memory, w), add)


def test_two_write_heads_commute():
    memory = _random(1, 6, 3)
    w = torch.softmax(_random(1, 2, 6, seed=1), -1)
    e, a = torch.rand(1, 2, 3, dtype=torch.float64), _random(1, 2, 3, seed=2)
    assert torch.allclose(
        mem.erase_and_add(memory, w, e, a), mem.erase_and_add(memory, w.flip(1), e.flip(1), a.flip(1))
    )
