"""Synthetic tasks: every batch is a pure function of (seed, task name, step).

A task is any object with a ``name`` and a ``sample(n, generator)`` that draws ``n`` examples
using only ``generator`` for randomness (never the global torch RNG, ``random`` or
``np.random``). Then ``batches(task, seed, batch_size)`` gives ``batch(step)``: a run resumed
at step 1000 sees the same batch 1000 as one that never stopped, any process can recompute any
batch, and two tasks with the same seed draw independent streams::

    class AddingProblem:
        name = "adding"

        def __init__(self, length: int):
            self.length = length

        def sample(self, n: int, generator: torch.Generator):
            values = torch.rand(n, self.length, generator=generator)
            ...
            return x, y

    task = AddingProblem(100)
    batch = batches(task, seed=0, batch_size=64)
    x, y = batch(step)
    x_val, y_val = eval_set(task, seed=0, n=1000)  # fixed; a stream no training step draws from
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch

from landmarks.engine.seeding import torch_generator


@runtime_checkable
class SyntheticTask(Protocol):
    name: str  # keys the random stream: tasks with different names never share one

    def sample(self, n: int, generator: torch.Generator) -> Any:
        """``n`` examples (usually a tuple of tensors with a leading batch dim of ``n``)."""
        ...


def step_generator(seed: int, name: str, step: int) -> torch.Generator:
    """The CPU generator for training step ``step`` of the stream ``name``."""
    return torch_generator(seed, name, "step", int(step))


def batches(task: SyntheticTask, seed: int, batch_size: int) -> Callable[[int], Any]:
    """``batch(step) -> task.sample(batch_size, ...)``, deterministic in (seed, step)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")

    def batch(step: int) -> Any:
        return task.sample(batch_size, step_generator(seed, task.name, step))

    return batch


def eval_set(task: SyntheticTask, seed: int, n: int, split: str = "val") -> Any:
    """A fixed held-out set of ``n`` examples, from a stream no training step draws from."""
    return task.sample(n, torch_generator(seed, task.name, "eval", split))
