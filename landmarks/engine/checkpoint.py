"""Atomic checkpoints that load with ``weights_only=True`` (nothing is ever unpickled)."""

from __future__ import annotations

from pathlib import Path

import torch

from landmarks.errors import UserInputError
from landmarks.files import atomic_write_bytes


class CorruptCheckpoint(UserInputError, ValueError):
    pass


def save_checkpoint(path: Path, state: dict) -> None:
    atomic_write_bytes(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CorruptCheckpoint(
            f"checkpoint {path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:200]}). "
            "Delete it, or run without --resume to start afresh."
        ) from None
    if not isinstance(state, dict) or "step" not in state:
        raise CorruptCheckpoint(f"checkpoint {path} is not a landmarks training checkpoint.")
    return state
