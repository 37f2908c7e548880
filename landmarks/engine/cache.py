"""Trained weights kept between runs: a pretrained base is trained once per configuration.

Papers that fine-tune, prune or probe a pretrained model (``peft``; the 2024 language-model
papers) ask ``cached_state(run, name, key, train)`` for it. The entry lives in the user's cache
folder (``$LANDMARKS_CACHE``, else ``$XDG_CACHE_HOME/landmarks``, else ``~/.cache/landmarks``)
as ``<name>/<digest of key>.pt`` (a state dict, loaded with ``weights_only=True``) beside a
``.json`` holding the key and the file's SHA-256. An entry whose key differs, whose checksum
does not match or that does not load is trained again, with a message saying why; it is never
used silently. Writes are atomic, so an interrupted run leaves no half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from landmarks.files import atomic_write_bytes, atomic_write_text

__all__ = ["cache_dir", "cached_state"]


def cache_dir() -> Path:
    if os.environ.get("LANDMARKS_CACHE"):
        return Path(os.environ["LANDMARKS_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "landmarks"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _plain(key: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(key, sort_keys=True, default=str))


def _load(path: Path, meta: Path, key: dict[str, Any]) -> tuple[dict[str, Tensor] | None, str]:
    """The entry's state dict, or None and the reason it cannot be used."""
    if not path.exists() or not meta.exists():
        return None, "not cached yet"
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError) as e:
        return None, f"its description {meta.name} is unreadable ({type(e).__name__})"
    if not isinstance(info, dict) or info.get("key") != key:
        return None, "it was trained under other settings"
    if info.get("sha256") != _sha256(path):
        return None, "its checksum does not match (a damaged or changed file)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or foreign: torch raises several types
        return None, f"it does not load ({type(e).__name__})"
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        return None, "it is not a state dict"
    return state, ""


def cached_state(
    log: Callable[[str], None],
    name: str,
    key: dict[str, Any],
    train: Callable[[], dict[str, Tensor]],
    *,
    enabled: bool = True,
) -> tuple[dict[str, Tensor], bool]:
    """The state dict stored for (``name``, ``key``), or ``train()``'s, stored for next time.

    Returns (state, True if it came from the cache). ``key`` holds everything the weights depend
    on (configuration, seed, data); ``enabled=False`` trains without reading or writing.
    """
    if not enabled:
        return train(), False
    key = _plain(key)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / name / f"{digest}.pt"
    meta = path.with_suffix(".json")
    state, reason = _load(path, meta, key)
    if state is not None:
        log(f"{name}: loaded the cached weights from {path}")
        return state, True
    if reason != "not cached yet":
        log(f"{name}: the cached entry {path} cannot be used ({reason}); training it again")
    state = train()
    try:
        atomic_write_bytes(path, lambda f: torch.save({k: v.detach().cpu() for k, v in state.items()}, f))
        atomic_write_text(meta, json.dumps({"key": key, "sha256": _sha256(path)}, indent=2, sort_keys=True))
        log(f"{name}: weights cached in {path}")
    except OSError as e:
        log(f"{name}: could not cache the weights in {path} ({e}); the next run trains them again")
    return state, False
