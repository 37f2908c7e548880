"""Reading result files back: validation, and the latest status of each paper.

Pure json + pathlib, so ``landmarks list`` stays fast.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from landmarks.claims import NOT_REPRODUCED, REPRODUCED, Claim
from landmarks.errors import UserInputError, warn
from landmarks.files import UnsafeName, file_inside
from landmarks.provenance import PROBES

NOT_RUN = "not run"
CURRENT, CHANGED, UNRECORDED = "current", "code changed since", "code version not recorded"
OTHER_PYTHON = "code fingerprinted under another Python"
REQUIRED = {"schema", "paper", "seed", "quick", "device", "seconds", "config", "metrics", "claims"}
# What each key must hold, so that a hand-edited file is refused with a message, not a traceback.
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "paper": ((str,), "text"),
    "seed": ((int,), "an integer"),
    "quick": ((bool,), "true or false"),
    "device": ((str,), "text"),
    "seconds": ((int, float), "a number"),
    "config": ((dict,), "an object"),
    "metrics": ((dict,), "an object"),
    "claims": ((list,), "a list"),
}
# Provenance (``landmarks.provenance``), written since results could be rerun one paper at a time;
# older files lack it, and the report says so.
_OPTIONAL: dict[str, tuple[tuple[type, ...], str]] = {
    "created": ((str,), "text (an ISO 8601 time)"),
    "code": ((str,), "text (a code fingerprint)"),
    "machine": ((dict,), "an object"),
}
_CLAIM_TEXT = ("statement", "threshold", "paper_value")


class MalformedResult(UserInputError, ValueError):
    pass


@dataclass
class Result:
    path: Path
    data: dict[str, Any]
    claims: list[Claim]

    @property
    def paper(self) -> str:
        return self.data["paper"]

    @property
    def status(self) -> str:
        """Reproduced only if every claim is; verdicts are recomputed from the numbers."""
        if not self.claims:
            return NOT_REPRODUCED
        return REPRODUCED if all(c.verdict == REPRODUCED for c in self.claims) else NOT_REPRODUCED


def read_result(path: Path) -> Result:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MalformedResult(f"{path}: not a readable JSON result file ({e})") from None
    if not isinstance(data, dict):
        raise MalformedResult(f"{path}: a result file holds a JSON object")
    missing = REQUIRED - data.keys()
    if missing:
        raise MalformedResult(f"{path}: missing keys {sorted(missing)}")
    if data["schema"] != 1:
        raise MalformedResult(f"{path}: schema {data['schema']!r} is not supported (expected 1)")
    for key, (types, kind) in (_TYPES | {k: v for k, v in _OPTIONAL.items() if k in data}).items():
        value = data[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise MalformedResult(f"{path}: {key!r} must be {kind}, not {_short(value)}")
    for key, (unit, _) in PROBES.items():  # the machine's speed around the run, where recorded
        probes = data.get("machine", {}).get(key, [1.0])
        if not (
            isinstance(probes, list)
            and probes
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in probes)
        ):
            raise MalformedResult(
                f"{path}: 'machine.{key}' must be a list of positive numbers ({unit}), not {_short(probes)}"
            )
    for i, c in enumerate(data["claims"]):
        if not isinstance(c, dict) or not all(isinstance(c.get(k), str) for k in _CLAIM_TEXT):
            raise MalformedResult(
                f"{path}: claims[{i}] must be an object with text 'statement', 'threshold' and "
                "'paper_value', and a number 'measured'"
            )
    try:
        claims = [Claim.from_json(c) for c in data["claims"]]
    except (KeyError, TypeError, ValueError) as e:
        raise MalformedResult(f"{path}: a claim is malformed ({e})") from None
    return Result(path, data, claims)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def find_results(root: Path) -> list[Result]:
    """Every ``<root>/<id>/result.json``, in the registry's order.

    A result.json that is a link leading out of its folder is skipped with a warning: a folder
    someone sent you must not make the report read a file from elsewhere on your disk.
    """
    from landmarks import registry

    order = {pid: i for i, pid in enumerate(registry.ids())}
    found = []
    for path in sorted(Path(root).glob("*/result.json")):
        try:
            file_inside(path.parent, path.name)
        except UnsafeName as e:
            warn(f"{path} {e}; skipped")
            continue
        found.append(read_result(path))
    return sorted(found, key=lambda r: (order.get(r.paper, len(order)), r.paper))


SEED_FOLDER = "seed-{}"  # <root>/<id>/seed-<n>/: a run on another seed (landmarks reproduce --seeds)
_SEED_FOLDER = re.compile(r"seed-(0|[1-9][0-9]*)")


def seed_folder(root: Path, paper_id: str, seed: int) -> Path:
    return Path(root) / paper_id / SEED_FOLDER.format(seed)


def find_seed_results(root: Path, skip_malformed: bool = False) -> dict[str, list[Result]]:
    """The runs on other seeds, ``<root>/<id>/seed-<n>/result.json``, by the paper each file
    says ran, in seed order. They sit beside the paper's main result (``<root>/<id>/result.json``)
    and never replace it. Links leading out of their folder are skipped, as ``find_results`` does;
    a malformed file raises ``MalformedResult``, or with ``skip_malformed`` is warned of and skipped."""
    found: dict[str, list[Result]] = {}
    for path in sorted(Path(root).glob("*/seed-*/result.json")):
        match = _SEED_FOLDER.fullmatch(path.parent.name)
        if match is None:
            continue  # not a folder the runner writes (seed-x, seed-01): not ours to read
        try:
            if not path.parent.resolve().is_relative_to(path.parent.parent.resolve()):
                raise UnsafeName("is in a folder that links outside the paper's folder")
            file_inside(path.parent, path.name)
        except (UnsafeName, OSError, RuntimeError) as e:
            warn(f"{path} {e}; skipped")
            continue
        try:
            r = read_result(path)
        except MalformedResult as e:
            if not skip_malformed:
                raise
            warn(f"{e}; skipped")
            continue
        if r.data["seed"] != int(match.group(1)):
            warn(
                f"{path} holds a run of seed {r.data['seed']} in the folder {path.parent.name!r}; "
                f"reported as seed {r.data['seed']}"
            )
        found.setdefault(r.paper, []).append(r)
    return {pid: sorted(rs, key=lambda r: r.data["seed"]) for pid, rs in found.items()}


def other_seeds(r: Result, seeds: dict[str, list[Result]]) -> list[Result]:
    """The runs of ``r``'s paper on seeds other than ``r``'s own."""
    return [s for s in seeds.get(r.paper, []) if s.data["seed"] != r.data["seed"]]


def seed_claim(s: Result, c: Claim) -> Claim | None:
    """``c`` as the run ``s`` measured it (matched by its statement), if that run checked it."""
    return next((x for x in s.claims if x.statement == c.statement), None)


def seed_verdicts(r: Result, s: Result) -> list[bool]:
    """For each claim of the main run ``r``: whether the run ``s`` checked it and it held."""
    verdicts = []
    for c in r.claims:
        x = seed_claim(s, c)
        verdicts.append(x is not None and x.verdict == REPRODUCED)
    return verdicts


def seed_mark(r: Result, s: Result) -> str:
    """What to say beside the run ``s`` on another seed than the main run ``r``: ' ⚠' if its code
    has changed since, then ' (quick)' or ' (full)' if it ran another preset than ``r`` (a quick
    run's verdicts say little about the full one's); '' if neither."""
    mark = " ⚠" if freshness(s) == CHANGED else ""
    if s.data["quick"] != r.data["quick"]:
        mark += " (quick)" if s.data["quick"] else " (full)"
    return mark


def seeds_held(r: Result, others: list[Result], short: bool = False) -> str:
    """'seed 1: 2 / 2 · seed 2: 0 / 2' (with ``short``, '1: 2/2 · 2: 0/2'): how many of the main
    run ``r``'s claims each other run reproduced; ⚠ marks a run whose code has changed since,
    and '(quick)' or '(full)' one that ran another preset than ``r``."""
    return " · ".join(
        (
            f"{s.data['seed']}: {sum(seed_verdicts(r, s))}/{len(r.claims)}"
            if short
            else f"seed {s.data['seed']}: {sum(seed_verdicts(r, s))} / {len(r.claims)}"
        )
        + seed_mark(r, s)
        for s in others
    )


def freshness(r: Result) -> str:
    """Whether the code that computed ``r`` is the code here now: ``CURRENT``, ``CHANGED``,
    ``UNRECORDED`` (a result written before fingerprints were kept, or of an unknown paper) or
    ``OTHER_PYTHON``."""
    from landmarks import provenance, registry

    recorded = r.data.get("code")
    try:
        module = registry.get(r.paper).module
    except registry.UnknownPaper:
        return UNRECORDED
    python = (r.data.get("machine") or {}).get("python")
    if recorded is None or not isinstance(python, str):
        return UNRECORDED
    if provenance.python_tag(python) != provenance.python_tag():
        return OTHER_PYTHON  # hashed from another Python's syntax trees: no comparison possible
    return CURRENT if recorded == provenance.code_fingerprint(module) else CHANGED


def runs_root() -> Path:
    return Path(os.environ.get("LANDMARKS_RUNS", "runs"))


def results_root() -> Path:
    """The folder of each paper's latest kept result (``results/<id>/result.json``)."""
    return Path(os.environ.get("LANDMARKS_RESULTS", "results"))


def _when(r: Result) -> float:
    """When ``r`` was written: its recorded time, else its file's modification time."""
    created = r.data.get("created")
    if created:
        try:
            return datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    return r.path.stat().st_mtime


def latest_statuses(root: Path | None = None, kept: Path | None = None) -> dict[str, tuple[str, Result]]:
    """For each paper, its newest result under ``runs/*/`` or in ``results/`` (full runs before
    quick ones)."""
    root = runs_root() if root is None else root
    kept = results_root() if kept is None else kept
    paths = [*root.glob("*/*/result.json"), *(kept.glob("*/result.json") if kept.is_dir() else [])]
    best: dict[str, tuple[tuple[int, float], Result]] = {}
    for path in paths:
        try:
            r = read_result(path)
        except MalformedResult:
            continue  # a broken file must not break `landmarks list`
        rank = (0 if r.data["quick"] else 1, _when(r))
        if r.paper not in best or rank > best[r.paper][0]:
            best[r.paper] = (rank, r)
    return {pid: (_label(r), r) for pid, (_, r) in best.items()}


def _label(r: Result) -> str:
    """``reproduced``, or ``not reproduced (3/5 claims)``; `` (quick)`` for a quick run, and
    `` (code changed since)`` when the code it ran has changed."""
    label = r.status
    if r.status == NOT_REPRODUCED and r.claims:
        held = sum(c.verdict == REPRODUCED for c in r.claims)
        label += f" ({held}/{len(r.claims)} claims)"
    return (
        label
        + (" (quick)" if r.data["quick"] else "")
        + (" (code changed since)" if freshness(r) == CHANGED else "")
    )
