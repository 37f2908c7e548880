"""Atomic checkpoints that load with ``weights_only=True`` (nothing is ever unpickled)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from landmarks.errors import UserInputError


class CorruptCheckpoint(UserInputError, ValueError):
    pass


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place.

    A crash or Ctrl-C mid-write leaves the old file intact, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
