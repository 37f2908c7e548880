"""The run context a paper's ``reproduce(cfg, run)`` receives.

It is where a reproduction records what it measured: metrics, claims (whose verdicts are
computed, never passed in), figures; and where it gets its seeded randomness, device,
output folder and progress bars.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landmarks.claims import Claim
from landmarks.engine import distributed, seeding
from landmarks.registry import ClaimSpec


@dataclass
class Run:
    paper: str
    seed: int
    device: torch.device
    out: Path  # this paper's folder: <--out>/<paper id>/
    quick: bool = False
    resume: bool = False
    config: Any = None
    show_progress: bool = True
    data_dir: Path | None = None  # a user's own files (--data-dir), for papers that read them
    metrics: dict[str, Any] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    plots: list[dict[str, str]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)

    # ---- what a reproduction records -------------------------------------------------

    def claim(self, statement: str, measured: float, threshold: str, paper_value: str) -> Claim:
        c = Claim(statement, measured, threshold, paper_value)
        self.claims.append(c)
        return c

    def check(self, spec: ClaimSpec, measured: float) -> Claim:
        """Record a claim the card states; threshold and paper figure come from the card."""
        return self.claim(spec.statement, measured, spec.threshold, spec.paper_value)

    def metric(self, name: str, value: Any) -> Any:
        """Record a number (or a list/dict of numbers) in result.json's ``metrics``."""
        self.metrics[name] = _jsonable(value)
        return value

    def table(self, name: str, columns: list[str], rows: list[list[Any]], caption: str = "") -> None:
        """Record a small table (a header and rows of numbers or text) for the report, where
        people would rather read a table than a metric's JSON; a table of the same name replaces
        the earlier one."""
        if any(len(row) != len(columns) for row in rows):
            raise ValueError(f"table {name!r}: every row needs {len(columns)} cells, one per column")
        entry = {"name": name, "caption": caption, "columns": list(columns), "rows": _jsonable(rows)}
        self.tables = [t for t in self.tables if t["name"] != name] + [entry]

    def save_figure(self, fig: Any, name: str, caption: str = "") -> Path:
        """Save a matplotlib figure as ``<out>/<name>.png`` and list it for the report."""
        path = self.out / f"{name}.png"
        if distributed.is_main():
            import matplotlib.pyplot as plt

            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(fig)
            self.plots = [p for p in self.plots if p["file"] != path.name]
            self.plots.append({"file": path.name, "caption": caption})
        return path

    def log(self, message: str) -> None:
        if distributed.is_main() and self.show_progress:
            from tqdm.auto import tqdm

            tqdm.write(f"[{self.paper}] {message}", file=sys.stderr)

    # ---- what a reproduction draws on ------------------------------------------------

    def generator(self, *keys: object) -> torch.Generator:
        """A CPU torch.Generator fixed by (seed, keys): e.g. ``run.generator("train", step)``."""
        return seeding.torch_generator(self.seed, self.paper, *keys)

    def rng(self, *keys: object) -> np.random.Generator:
        """A numpy Generator fixed by (seed, keys)."""
        return seeding.numpy_rng(self.seed, self.paper, *keys)

    def progress(self, total: int | None = None, desc: str = "", initial: int = 0, unit: str = "it") -> Any:
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            initial=initial,
            desc=f"{self.paper}: {desc}" if desc else self.paper,
            unit=unit,
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
            mininterval=0.1 if sys.stderr.isatty() else 5.0,  # logs get a line every few seconds
            disable=not (self.show_progress and distributed.is_main()),
        )

    def checkpoint_path(self, name: str) -> Path:
        return self.out / "checkpoints" / f"{name}.pt"

    def config_json(self) -> dict:
        return dataclasses.asdict(self.config) if dataclasses.is_dataclass(self.config) else {}

    def config_fingerprint(self) -> str:
        """The settings as one string, stored in checkpoints so a resume under others is refused."""
        return json.dumps(self.config_json(), sort_keys=True, default=str)


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    json.dumps(value)  # raises early for anything a result file cannot hold
    return value
