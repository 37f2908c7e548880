"""Choosing where to compute: ``--device auto|cpu|cuda|mps``."""

from __future__ import annotations

import os

import torch

from landmarks.errors import UserInputError

CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceUnavailable(UserInputError, ValueError):
    pass


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def pick_device(choice: str = "auto") -> torch.device:
    """Resolve a device choice; under torchrun each process takes its own GPU (LOCAL_RANK)."""
    if choice not in CHOICES:
        raise DeviceUnavailable(f"unknown device {choice!r}; choose one of {', '.join(CHOICES)}")
    if choice == "auto":
        if torch.cuda.is_available():
            return _this_process_gpu()
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                "--device cuda was asked for, but torch sees no CUDA GPU on this machine "
                f"(torch {torch.__version__}). Use --device cpu or --device auto."
            )
        return _this_process_gpu()
    if choice == "mps" and not _mps_available():
        raise DeviceUnavailable("--device mps was asked for, but MPS is not available here.")
    return torch.device(choice)


def _this_process_gpu() -> torch.device:
    """GPU number LOCAL_RANK: under torchrun, one GPU per process, as NCCL requires."""
    gpus = torch.cuda.device_count()
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if processes > gpus:
        raise DeviceUnavailable(
            f"torchrun started {processes} processes on this machine, which has {gpus} CUDA GPU(s); "
            f"each process needs a GPU of its own. Use --nproc_per_node={gpus}, or --device cpu."
        )
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
