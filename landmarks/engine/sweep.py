"""A sweep: many training runs (points of a grid), each resumable, whose results are kept.

Each point has a name and its settings. ``run_sweep`` trains the points in order and writes
each one's result to ``<run>/sweep/<name>.json`` (atomically) as soon as it is done. Under
``--resume``, a point whose result is on disk *with the same settings* is loaded, not
retrained, and a point killed half-way continues from its own checkpoint (``fit``'s). So a
sweep that dies an hour in loses at most the point it was on, and not even that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from landmarks.engine.run import Run
from landmarks.files import atomic_write_text

__all__ = ["SweepPoint", "run_sweep"]


@dataclass(frozen=True)
class SweepPoint:
    name: str  # letters, digits, '-', '_' and '.': it names files
    settings: dict[str, Any] = field(default_factory=dict)


def run_sweep(
    run: Run, points: list[SweepPoint], train: Callable[[SweepPoint], dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``train(point)`` for every point not already done; returns every point's result by name."""
    if not points:
        raise ValueError("the sweep grid is empty: it needs at least one point")
    names = [p.name for p in points]
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9_.-]+", n) or n.startswith(".")]
    if bad:
        raise ValueError(f"sweep point names must be letters, digits, '-', '_' and '.', got {bad}")
    if len(set(names)) != len(names):
        raise ValueError(f"sweep points need distinct names, got {names}")
    folder = run.out / "sweep"
    results: dict[str, dict[str, Any]] = {}
    for point in points:
        path = folder / f"{point.name}.json"
        if run.resume and path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("settings") == _plain(point.settings):
                run.log(f"sweep point {point.name}: already trained, loaded from {path.name}")
                results[point.name] = saved["result"]
                continue
        result = train(point)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"settings": _plain(point.settings), "result": result}, indent=1))
        results[point.name] = result
    return results


def _plain(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as JSON would give them back (tuples become lists), so they compare equal."""
    return json.loads(json.dumps(settings))
