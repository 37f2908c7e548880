"""Run one paper's reproduction and write its ``result.json`` (the results contract)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from landmarks import allocator, provenance, registry
from landmarks.config import apply_overrides
from landmarks.errors import UserInputError
from landmarks.files import atomic_write_bytes

SCHEMA = 1


def preset(paper_id: str, quick: bool, overrides: list[str] | None = None) -> Any:
    module = registry.get(paper_id).load()
    cfg = module.PRESETS["quick" if quick else "default"]
    return apply_overrides(cfg, overrides or [])


def run_paper(
    paper_id: str,
    *,
    out: Path,
    quick: bool = False,
    seed: int = 0,
    device: str = "auto",
    overrides: list[str] | None = None,
    resume: bool = False,
    show_progress: bool = True,
    data_dir: Path | None = None,
    folder: Path | None = None,
) -> dict[str, Any]:
    """Train, measure, and write ``<out>/<paper_id>/result.json`` (or ``<folder>/result.json``,
    with the run's plots and checkpoints, when ``folder`` is given); returns that result."""
    import torch

    from landmarks.engine import Run, distributed, pick_device, seed_everything

    paper = registry.get(paper_id)
    module = paper.load()
    cfg = preset(paper_id, quick, overrides)
    if data_dir is not None and not getattr(module, "USES_DATA_DIR", False):
        raise UserInputError(f"{paper_id} generates or ships its own data; it does not read --data-dir")
    dev = pick_device(device)
    distributed.init_from_env(dev)
    seed_everything(seed)
    run = Run(
        paper=paper_id,
        seed=seed,
        device=dev,
        out=Path(folder) if folder is not None else Path(out) / paper_id,
        quick=quick,
        resume=resume,
        config=cfg,
        show_progress=show_progress,
        data_dir=Path(data_dir) if data_dir is not None else None,
    )
    run.out.mkdir(parents=True, exist_ok=True)
    code = provenance.code_fingerprint(paper.module)  # the code as it was when the run began
    # The machine's speed just before and after a timed run (outside it): a shared machine's
    # drifts, and its seconds with it. Quick runs prove the code runs; their seconds say nothing.
    before = None if quick else provenance.probe_machine(str(dev))
    began = time.perf_counter()
    module.reproduce(cfg, run)
    seconds = round(time.perf_counter() - began, 2)
    machine = provenance.machine(str(dev), torch.get_num_threads(), torch.__version__)
    machine["freed_memory_retained"] = allocator.retained()  # fewer page faults: faster steps
    if before is not None:
        after = provenance.probe_machine(str(dev))
        machine |= {key: [round(before[key], 1), round(after[key], 1)] for key in provenance.PROBES}
    result = {
        "schema": SCHEMA,
        "paper": paper_id,
        "seed": seed,
        "quick": quick,
        "device": str(dev),
        "seconds": seconds,
        "created": provenance.now(),
        "code": code,
        "machine": machine,
        "config": run.config_json(),
        "metrics": run.metrics,
        "claims": [c.to_json() for c in run.claims],
        "plots": run.plots,
        "tables": run.tables,
        "world_size": distributed.world_size(),
    }
    if distributed.is_main():
        write_json(run.out / "result.json", result)
    return result


def write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2, allow_nan=True) + "\n"
    atomic_write_bytes(Path(path), lambda f: f.write(text.encode()))
