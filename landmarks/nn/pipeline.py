"""Pipeline parallelism as GPipe does it (Huang et al., 2019): an ``nn.Sequential`` cut into K
stages, one per process, a minibatch cut into M micro-batches, and the fill-drain schedule.

    stage 0   F0 F1 F2 F3 ·  ·  ·  ·  ·  ·  B3 B2 B1 B0
    stage 1   ·  F0 F1 F2 F3 ·  ·  ·  B3 B2 B1 B0 ·  ·        (K = 2 here would show less)
    ...

Every stage runs the forward pass of micro-batch m as soon as the stage before hands it the
activations, so the stages work on different micro-batches at once; after the last forward
the backward passes run the other way, and only when every micro-batch is done does each
stage update its weights (a *synchronous* update: the gradient is the whole minibatch's, so
the result equals training without a pipeline). A stage is idle while the pipeline fills and
drains: with equal stages that is a fraction (K − 1) / (M + K − 1) of the step, the *bubble*,
which more micro-batches shrink.

*Re-materialization*: a stage may keep only its input of each micro-batch and recompute the
forward pass during the backward one (``torch.utils.checkpoint``), trading compute for memory.

Activations travel by ``torch.distributed`` point-to-point ``send``/``recv``: gloo between CPU
processes, NCCL between GPUs, and through host memory (gloo) when stages share one GPU.
``GPipeStage.step`` records when each forward and backward ran, so the bubble is measured from
timestamps, not taken from the formula.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = [
    "GPipeStage",
    "StepRecord",
    "activation_shapes",
    "partition",
    "split_micro_batches",
]


def partition(model: nn.Sequential, stages: int) -> list[nn.Sequential]:
    """Cut ``model`` into ``stages`` contiguous pieces of as equal parameter counts as the layer
    boundaries allow (GPipe balances the stages' cost; parameters stand in for it here). A
    stage starts at a layer with parameters, so an activation stays with the layer before it."""
    layers = list(model)
    if not 1 <= stages <= len(layers):
        raise ValueError(f"cannot cut {len(layers)} layers into {stages} stages: need 1 <= stages <= layers")
    sizes = [sum(p.numel() for p in layer.parameters()) for layer in layers]
    total = sum(sizes)
    cuts: list[int] = []
    for j in range(1, len(layers)):  # a cut before layer j
        still_to_cut = stages - 1 - len(cuts)
        if not still_to_cut:
            break
        share_reached = sum(sizes[:j]) >= total * (len(cuts) + 1) / stages
        if (share_reached and sizes[j] > 0) or len(layers) - j == still_to_cut:
            cuts.append(j)
    bounds = [0, *cuts, len(layers)]
    return [nn.Sequential(*layers[a:b]) for a, b in itertools.pairwise(bounds)]


def split_micro_batches(batch: Tensor, micro_batches: int) -> list[Tensor]:
    if micro_batches < 1 or len(batch) % micro_batches:
        raise ValueError(f"{micro_batches} micro-batches do not divide a batch of {len(batch)}")
    return list(batch.chunk(micro_batches))


@torch.no_grad()
def activation_shapes(stages: list[nn.Module], micro_input: Tensor) -> list[torch.Size]:
    """The shape of what each stage receives: [input of stage 0, ..., output of the last]."""
    shapes, x = [micro_input.shape], micro_input
    for stage in stages:
        x = stage(x)
        shapes.append(x.shape)
    return shapes


@dataclass
class StepRecord:
    """What one pipelined step did on one stage, times in seconds from ``started``."""

    started: float  # time.perf_counter() when the step began (shared clock across processes)
    events: list[tuple[str, int, float, float]] = field(default_factory=list)  # (F|B, micro, start, end)
    activation_bytes: int = 0  # what the stage held for its backward passes, at the end of the forwards
    loss: float | None = None  # the minibatch's loss, on the last stage


class _SavedBytes(torch.autograd.graph.saved_tensors_hooks):
    """Counts the distinct storages autograd saves for the backward pass, the weights' aside
    (those are kept anyway: they are not activations)."""

    def __init__(self, storages: dict[int, int], weights: set[int]) -> None:
        def pack(t: Tensor) -> Tensor:
            storage = t.untyped_storage()
            if storage.data_ptr() not in weights:
                storages[storage.data_ptr()] = storage.nbytes()
            return t

        super().__init__(pack, lambda t: t)


class GPipeStage:
    """Stage ``rank`` of ``stages`` in a GPipe pipeline; every process builds one and calls
    ``step`` together. ``shapes`` are ``activation_shapes`` for one micro-batch."""

    def __init__(
        self,
        module: nn.Module,
        rank: int,
        stages: int,
        shapes: list[torch.Size],
        rematerialize: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        self.module, self.rank, self.stages = module, rank, stages
        self.shapes, self.rematerialize, self.device = shapes, rematerialize, torch.device(device)
        self.first, self.last = rank == 0, rank == stages - 1
        # Gloo carries CPU tensors only: stages that share a GPU pass activations through the host.
        self.via_host = self.device.type == "cuda" and dist.get_backend() != "nccl"

    def _synchronize(self) -> None:
        """GPU kernels run asynchronously: wait for them, so a timestamp marks work done."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _send(self, t: Tensor, to: int) -> None:
        """Hand a tensor to the next (or previous) stage. A blocking ``send``: with ``isend``
        the transfer waits for gloo's background thread, which on a busy CPU can wait for a
        time slice, and the receiving stage idles meanwhile (measured: about 10 ms per hand-off
        on two cores, against well under 1 ms for a blocking send)."""
        dist.send(t.detach().cpu() if self.via_host else t.detach().contiguous(), to)

    def _recv(self, shape: torch.Size, frm: int) -> Tensor:
        buffer = torch.empty(shape, device="cpu" if self.via_host else self.device)
        dist.recv(buffer, frm)
        return buffer.to(self.device)

    def step(
        self,
        inputs: Tensor | None,
        targets: Tensor | None,
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        micro_batches: int,
    ) -> StepRecord:
        """Forward every micro-batch, then backward every one; gradients accumulate in the
        module's ``.grad`` (the caller zeroes them before and steps the optimizer after).
        Stage 0 needs ``inputs`` and the last stage ``targets``, whole minibatches."""
        xs = split_micro_batches(inputs, micro_batches) if self.first else None
        ys = split_micro_batches(targets, micro_batches) if self.last else None
        record = StepRecord(started=time.perf_counter())
        clock = lambda: time.perf_counter() - record.started  # noqa: E731
        held: list[tuple[Tensor, Tensor]] = []  # per micro-batch: (stage input, output or loss)
        storages: dict[int, int] = {}
        weights = {p.untyped_storage().data_ptr() for p in self.module.parameters()}
        total = 0.0
        # -- the forward passes, micro-batch after micro-batch (the pipeline fills) --
        for m in range(micro_batches):
            if self.first:
                x = xs[m].to(self.device)
            else:
                x = self._recv(self.shapes[self.rank], self.rank - 1).requires_grad_()
            start = clock()
            with _SavedBytes(storages, weights):
                y = checkpoint(self.module, x, use_reentrant=False) if self.rematerialize else self.module(x)
                if self.last:
                    y = loss_fn(y, ys[m].to(self.device)) / micro_batches  # the minibatch mean, in parts
                    total += float(y.detach())
            self._synchronize()
            record.events.append(("F", m, start, clock()))
            storages[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()  # kept for backward
            if not self.last:
                self._send(y, self.rank + 1)
            held.append((x, y))
        record.activation_bytes = sum(storages.values())
        # -- the backward passes, last micro-batch first (the pipeline drains) --
        for m in reversed(range(micro_batches)):
            x, y = held[m]
            grad = None if self.last else self._recv(self.shapes[self.rank + 1], self.rank + 1)
            start = clock()
            y.backward(grad)  # recomputes the stage's forward first when rematerializing
            self._synchronize()
            record.events.append(("B", m, start, clock()))
            held[m] = None  # type: ignore[call-overload]  # free the micro-batch's graph
            if not self.first:
                self._send(x.grad, self.rank - 1)
        record.loss = total if self.last else None
        return record
