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
        raise unreadable(path, e) from None
    if not isinstance(state, dict) or "step" not in state:
        raise CorruptCheckpoint(f"checkpoint {path} is not a landmarks training checkpoint.")
    return state


def unreadable(path: Path, error: Exception) -> CorruptCheckpoint:
    """The error for a checkpoint file that is truncated, foreign or otherwise unreadable."""
    reason = str(error).splitlines()[0][:200] if str(error) else ""
    return CorruptCheckpoint(
        f"checkpoint {path} cannot be read ({type(error).__name__}: {reason}). "
        "Delete it, or run without --resume to start afresh."
    )


def check_config(path: Path, saved: object, expected: str) -> None:
    """Refuse to resume from a checkpoint written under other settings."""
    if saved != expected:
        raise CorruptCheckpoint(
            f"checkpoint {path} was written with a different configuration; "
            "run without --resume (or with the same --set values) to continue."
        )
