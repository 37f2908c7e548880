"""Where a result came from: when it ran, on what, and which version of the code computed it.

A results folder can hold results run at different times (``landmarks reproduce <ids> --out
results`` reruns only some papers). The report must then say, for each paper, whether its result
still describes the code: ``code_fingerprint`` hashes the source of the paper's module and of
every ``landmarks`` module it imports, directly or not. A result whose recorded fingerprint differs
from the current one was computed by other code, and the report marks it.

The fingerprint reads the files and parses them; it imports nothing, so it is cheap and needs no
torch. It hashes the syntax tree without docstrings, so comments, docstrings and formatting do not
count as a change. Nor does a card's prose (``CARD = Card(...)``'s citation, takeaways, keeps,
shrinks, figures and notes): no number depends on it, and ``landmarks show`` and the report read
it from the module as it is now, so correcting a note does not make every seed's result look
out of date. Everything else counts, a card's claims included, since a result records each
claim's statement, threshold and paper figure. It follows only static
imports of ``landmarks`` modules (function-level ones too): data files, other packages and their
versions are not part of it (the machine record below names the torch version).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

PACKAGE = "landmarks"
ROOT = Path(__file__).resolve().parent  # the landmarks package folder


def module_file(name: str) -> Path | None:
    """The source file of module ``name``, or None if there is none.

    Found on disk, without importing, inside this package; elsewhere (a paper module of your own,
    registered from outside ``landmarks``) by ``importlib``, which imports its parent packages.
    """
    parts = name.split(".")
    if parts[0] != PACKAGE:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec is not None else None
        return Path(origin) if origin and origin.endswith(".py") else None
    base = ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        # the exact name: on a case-insensitive disk engine/Run.py would find engine/run.py
        if candidate.is_file() and candidate.name in _names(candidate.parent):
            return candidate
    return None


@cache
def _names(folder: Path) -> frozenset[str]:
    return frozenset(p.name for p in folder.iterdir())


def _imported(name: str, tree: ast.AST, is_package: bool) -> set[str]:
    """The ``landmarks`` modules that the module ``name`` imports anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package this module is in (or is)
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            # ``from landmarks.papers import lstm`` imports a module; ``from m import f`` does not
            found.update(f"{base}.{alias.name}" for alias in node.names)
    modules = set()
    for m in found:
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        pieces = m.split(".")
        for k in range(1, len(pieces) + 1):
            if pieces[0] == PACKAGE and module_file(".".join(pieces[:k])) is not None:
                modules.add(".".join(pieces[:k]))
    return modules


# The fields of ``landmarks.registry.Card`` that are prose for the reader, not inputs to a number.
CARD_PROSE = frozenset({"citation", "takeaways", "keeps", "shrinks", "figures", "notes"})


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            first = body[0].value if body and isinstance(body[0], ast.Expr) else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _strip_card_prose(tree: ast.AST) -> ast.AST:
    """Drop the prose keywords of a module-level ``CARD = Card(...)``; its claims stay."""
    for node in getattr(tree, "body", []):
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        call = getattr(node, "value", None)
        if not (isinstance(target, ast.Name) and target.id == "CARD" and isinstance(call, ast.Call)):
            continue
        func = call.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name == "Card":
            call.keywords = [k for k in call.keywords if k.arg not in CARD_PROSE]
    return tree


def _parsed(path: Path) -> tuple[str, ast.AST]:
    """(the normalized dump, the tree) of one file."""
    return _parse(path.read_text(encoding="utf-8"))


@cache
def _parse(text: str) -> tuple[str, ast.AST]:  # cached by content: a report checks 45 papers
    tree = ast.parse(text)
    normalized = _strip_card_prose(_strip_docstrings(ast.parse(text)))  # edits its tree: a second parse
    return ast.dump(normalized), tree


def module_closure(name: str) -> list[str]:
    """``name`` and every ``landmarks`` module it imports, directly or not, sorted."""
    seen: set[str] = set()
    pieces = name.split(".")
    todo = [".".join(pieces[:k]) for k in range(1, len(pieces) + 1)]  # its packages run first
    todo = [m for m in todo if m.split(".")[0] == PACKAGE] + [name]
    while todo:
        m = todo.pop()
        path = module_file(m)
        if m in seen or path is None:
            continue
        seen.add(m)
        todo.extend(_imports(m, path.read_text(encoding="utf-8"), path.name == "__init__.py") - seen)
    return sorted(seen)


@cache
def _imports(name: str, text: str, is_package: bool) -> frozenset[str]:
    """``_imported`` for a file's text, cached by content: a report takes the fingerprint of
    every result it shows (135 for 45 papers on three seeds), each over the same few dozen
    files, and walking their syntax trees again each time took three minutes."""
    return frozenset(_imported(name, _parse(text)[1], is_package))


def python_tag(version: str | None = None) -> str:
    """``CPython 3.11`` for ``CPython 3.11.7`` (default: this interpreter): syntax trees, and so
    fingerprints, change with the Python minor version, and only fingerprints of one compare."""
    if version is None:
        version = f"{platform.python_implementation()} {platform.python_version()}"
    return ".".join(version.split(".")[:2])


def code_fingerprint(name: str) -> str:
    """A hash of the code that module ``name`` runs: its closure's syntax trees, docstrings left
    out. Compare it only with one taken under the same ``python_tag()``."""
    h = hashlib.sha256()
    for m in module_closure(name):
        path = module_file(m)
        assert path is not None
        dump, _ = _parsed(path)
        h.update(m.encode() + b"\0" + dump.encode() + b"\0")
    return h.hexdigest()[:16]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str, threads: int, torch_version: str) -> dict[str, object]:
    """What ran it: CPU model and cores, threads, device, Python and torch versions."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "device": device,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "torch": torch_version,
        "os": f"{platform.system()} {platform.machine()}",
    }


# ---- how fast the machine is, now ----------------------------------------------------------------
# A shared machine's speed drifts (this one's by a quarter within hours), and every wall-clock time
# measured on it with it. The runner probes two kinds of speed just before and after each timed
# run, so that its seconds can be read against them: throughput (a large matmul, what convolutions
# and wide layers are bound by) and latency (a small LSTM cell step, a dozen tiny ops, what
# recurrent papers are bound by). The two need not move together: pointer-networks took 140 s in
# one session and 167 s in a later one, with the matmul near the fastest this machine has shown.


def _median_seconds(fn, sync, repeats: int, warmup_seconds: float) -> float:  # type: ignore[no-untyped-def]
    # Warm up for a fixed time, not a count: a fresh process measured 10-20 % slow over its first
    # few tenths of a second of work (thread pool, caches, clock), whatever the number of calls.
    warm_until = time.perf_counter() + warmup_seconds
    while time.perf_counter() < warm_until:
        fn()
        sync()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _sync(device):  # type: ignore[no-untyped-def]
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def matmul_gflops(device: str = "cpu", n: int = 1024, repeats: int = 5, warmup_seconds: float = 0.2) -> float:
    """Throughput now: fp32 GFLOP/s of an n × n matmul on ``device`` (2n³ FLOPs a product; the
    median of ``repeats`` after ``warmup_seconds`` of them), a quarter of a second in all."""
    import torch

    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(dev) for _ in range(2))
    return 2 * n**3 / _median_seconds(lambda: a @ b, _sync(dev), repeats, warmup_seconds) / 1e9


def lstm_step_us(
    device: str = "cpu", batch: int = 32, hidden: int = 64, steps: int = 100, repeats: int = 5,
    warmup_seconds: float = 0.1,
) -> float:  # fmt: skip
    """Latency now: microseconds per step of an LSTM cell written out (one addmm, four
    activations, three products and a sum on a batch of 32 × 64 units), the median of
    ``repeats`` runs of ``steps`` steps after ``warmup_seconds``; about 0.2 s in all."""
    import torch

    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    x, h = (torch.randn(batch, hidden, generator=g).to(dev) for _ in range(2))
    w = (0.05 * torch.randn(2 * hidden, 4 * hidden, generator=g)).to(dev)
    bias = torch.zeros(4 * hidden, device=dev)

    def run() -> None:
        state, cell = h, torch.zeros_like(h)
        for _ in range(steps):
            i, f, z, o = torch.addmm(bias, torch.cat([x, state], 1), w).chunk(4, 1)
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(z)
            state = torch.sigmoid(o) * torch.tanh(cell)

    return _median_seconds(run, _sync(dev), repeats, warmup_seconds) / steps * 1e6


PROBES = {  # the key a result records each probe under (in "machine"), its unit, the probe
    "matmul_gflops": ("GFLOP/s", matmul_gflops),
    "lstm_step_us": ("µs", lstm_step_us),
}


def probe_machine(device: str) -> dict[str, float]:
    """Every probe, keyed as a result records it."""
    return {key: probe(device) for key, (_, probe) in PROBES.items()}


def probe_mean(result: dict, key: str = "matmul_gflops") -> float | None:
    """A probe's mean (of the runner's before and after) from a result, or None for results
    recorded without it."""
    machine = result.get("machine")
    probes = machine.get(key) if isinstance(machine, dict) else None
    if not (isinstance(probes, list) and probes and all(isinstance(p, (int, float)) for p in probes)):
        return None
    return sum(probes) / len(probes)


def machine_probes(result: dict) -> tuple[float, float] | None:
    """The machine's matmul GFLOP/s and µs per LSTM step around a run, where both are recorded."""
    speed, latency = probe_mean(result), probe_mean(result, "lstm_step_us")
    return None if speed is None or latency is None else (speed, latency)


def machine_note(result: dict) -> str:
    """'167.4 s (machine at 378 GFLOP/s, 41 µs per LSTM step)', or the seconds alone."""
    probed = machine_probes(result)
    seconds = f"{result['seconds']:.1f} s"
    if probed is None:
        return seconds
    return f"{seconds} (machine at {probed[0]:.0f} GFLOP/s, {probed[1]:.0f} µs per LSTM step)"


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
