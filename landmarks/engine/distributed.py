"""Data parallelism under ``torchrun``; every function is a no-op in a single process.

``torchrun --nproc_per_node=K -m landmarks run <id>`` starts K processes. Each takes an equal
slice of every global batch, DDP averages the gradients, and the logged loss is averaged over
processes, so with the same global batch the loss curve matches a 1-process run. Gloo on CPU,
NCCL on GPU.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def init_from_env(device: torch.device) -> bool:
    """Join the process group torchrun describes in the environment; False when not under it.

    The backend follows the device the run computes on, not what the machine has: NCCL for
    CUDA tensors, gloo for CPU ones (``--device cpu`` on a GPU machine too).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)  # this process's GPU, for NCCL's collectives
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def wrap(model: nn.Module) -> nn.Module:
    """DDP around the model when distributed, the model itself otherwise."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    device = next(model.parameters()).device
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shard(batch: Any) -> Any:
    """This process's contiguous slice of a global batch (tensors split on dim 0).

    The global batch must divide evenly, so every process averages over the same count and
    the averaged gradient equals the 1-process gradient.
    """
    if not active():
        return batch
    if isinstance(batch, torch.Tensor):
        n, k = batch.shape[0], world_size()
        if n % k:
            raise ValueError(f"global batch of {n} does not split evenly over {k} processes")
        per = n // k
        return batch[rank() * per : (rank() + 1) * per]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a NamedTuple keeps its type
        return type(batch)(*(shard(b) for b in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(b) for b in batch)
    if isinstance(batch, dict):
        return {k: shard(v) for k, v in batch.items()}
    return batch


def mean(value: float) -> float:
    """Average a Python number over processes."""
    if not active():
        return value
    on = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([value], dtype=torch.float64, device=on)  # NCCL reduces only CUDA tensors
    dist.all_reduce(t)
    return float(t.item()) / world_size()
