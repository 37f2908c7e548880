"""``RESULTS.md`` and a self-contained ``report.html`` (plots embedded) from result files.

A results folder may come from someone else, so the report embeds only what lies inside it:
a plot is a PNG file in its paper's folder, named without folders; anything else a result file
names is skipped with a warning (see ``landmarks.files.file_inside``).
"""

from __future__ import annotations

import base64
import html
import json
import math
import platform
from datetime import datetime, timezone
from pathlib import Path

from landmarks import registry
from landmarks.claims import REPRODUCED, Claim, fmt_number
from landmarks.errors import UserInputError, warn
from landmarks.files import (
    UnsafeName,
    atomic_write_bytes,
    file_inside,
    input_folder,
    output_folder,
    safe_plot_path,
)
from landmarks.provenance import machine_note, machine_probes
from landmarks.results import (
    CHANGED,
    CURRENT,
    OTHER_PYTHON,
    UNRECORDED,
    Result,
    find_results,
    find_seed_results,
    freshness,
    other_seeds,
    seed_claim,
    seed_mark,
    seed_verdicts,
    seeds_held,
)


def build(root: Path, errors: dict[str, str] | None = None) -> tuple[Path, Path]:
    """Write ``<root>/RESULTS.md`` and ``<root>/report.html``; return their paths."""
    root = output_folder(input_folder(root, "results folder"), "results folder")
    md, page = root / "RESULTS.md", root / "report.html"
    for path in (md, page):
        if path.is_dir():  # os.replace cannot put a file where a folder is
            raise UserInputError(
                f"{path} is a folder; the report writes a file there. Move it away and rerun."
            )
    results = find_results(root)
    for r in results:
        if r.paper != r.path.parent.name:  # renamed or copied; the file says what ran
            warn(
                f"{r.path} is a result of {r.paper!r} in the folder {r.path.parent.name!r}; reported as {r.paper!r}"
            )
    seeds = find_seed_results(root)
    mains = {r.paper for r in results}
    for pid in sorted(seeds.keys() - mains):
        warn(f"{root}: runs of {pid!r} on other seeds but no main result ({pid}/result.json); not reported")
    errors = dict(errors or {}) | _recorded_errors(root)
    if not results and not errors:
        raise UserInputError(f"no result files under {root} (expected {root}/<paper id>/result.json)")
    _write(md, markdown(results, errors, seeds))
    _write(page, html_page(results, errors, root, seeds))
    return md, page


def _recorded_errors(root: Path) -> dict[str, str]:
    """The ``<id>/error.txt`` of papers that failed, and ``<id>/seed-<n>/error.txt`` of runs on
    other seeds that failed (as ``<id> (seed <n>)``); only plain files inside their own folder."""
    errors = {}
    for path in sorted([*root.glob("*/error.txt"), *root.glob("*/seed-*/error.txt")]):
        seed = path.parent.name.removeprefix("seed-") if path.parent.parent != root else None
        name = path.parent.name if seed is None else f"{path.parent.parent.name} (seed {seed})"
        try:
            errors[name] = file_inside(path.parent, path.name).read_text(errors="replace").strip()
        except (UnsafeName, OSError) as e:
            warn(f"{path} {e}; skipped")
    return errors


# ---- runs on other seeds (landmarks reproduce --seeds) ----------------------------------------


def _seed_cell(c: Claim, r: Result, others: list[Result]) -> str:
    """'1: ✅ 0.97 · 2: ❌ 0.88': each other seed's verdict and number for the claim ``c`` of the
    main run ``r``; ⚠ marks a run whose code has changed since, and (quick) or (full) a run whose
    preset differs from the main run's."""
    parts = []
    for s in others:
        mark = seed_mark(r, s)
        x = seed_claim(s, c)
        if x is None:
            parts.append(f"{s.data['seed']}: not checked{mark}")
        else:
            verdict = "✅" if x.verdict == REPRODUCED else "❌"
            parts.append(f"{s.data['seed']}: {verdict} {measured_text(x.measured)}{mark}")
    return " · ".join(parts)


def _seed_timing(others: list[Result]) -> str:
    return "".join(f"; seed {s.data['seed']}: {_timing(s)}" for s in others)


def _seed_summary(results: list[Result], seeds: dict[str, list[Result]]) -> str | None:
    """One line: how many claim checks held on the other seeds, and how many papers hold every
    claim on every seed they ran; None when no paper has runs on other seeds."""
    checked = [r for r in results if other_seeds(r, seeds)]
    if not checked:
        return None
    held = total = robust = 0
    numbers = sorted({s.data["seed"] for r in checked for s in other_seeds(r, seeds)})
    for r in checked:
        verdicts = [c.verdict == REPRODUCED for c in r.claims]
        for s in other_seeds(r, seeds):
            held_here = seed_verdicts(r, s)
            held, total = held + sum(held_here), total + len(held_here)
            verdicts += held_here
        robust += bool(verdicts) and all(verdicts)
    return (
        f"**On other seeds** ({', '.join(map(str, numbers))}; {_papers(len(checked))}): **{held} of {total} "
        f"claim checks reproduced**; {robust} of {_papers(len(checked))} reproduce every claim on every seed they ran."
    )


def _figures(r: Result, missing: list[str]) -> list[tuple[str, bytes, str]]:
    """(file name, PNG bytes, caption) for each plot of ``r`` that is safe to embed; the plots
    whose files are absent are appended to ``missing`` (the kept results/ folder holds none)."""
    plots = r.data.get("plots", [])
    if not isinstance(plots, list):
        warn(f"{r.path}: 'plots' is not a list of {{file, caption}} entries; no plots shown")
        return []
    figures = []
    for i, plot in enumerate(plots):
        if not isinstance(plot, dict) or not isinstance(plot.get("file"), str):
            warn(f"{r.path}: plots[{i}] is not a {{file, caption}} entry with a file name; skipped")
            continue
        name = plot["file"]
        candidate = r.path.parent / name
        if name and Path(name).name == name and not candidate.is_symlink() and not candidate.exists():
            missing.append(f"{r.paper}/{name}")  # a plain file name whose file is not there
            continue
        try:
            data = safe_plot_path(r.path.parent, name).read_bytes()
        except (UnsafeName, OSError) as e:
            warn(f"{r.path}: plot {plot['file']!r} {e}; skipped")
            continue
        caption = plot.get("caption", "")
        figures.append((plot["file"], data, caption if isinstance(caption, str) else str(caption)))
    return figures


def _tables(r: Result) -> list[str]:
    """HTML for each table ``r`` recorded (``Run.table``); malformed entries are skipped with a warning."""
    tables = r.data.get("tables", [])
    if not isinstance(tables, list):
        warn(f"{r.path}: 'tables' is not a list; no tables shown")
        return []
    esc, parts = html.escape, []
    for i, t in enumerate(tables):
        columns, rows = (t.get("columns"), t.get("rows")) if isinstance(t, dict) else (None, None)
        if not (
            isinstance(columns, list) and isinstance(rows, list) and all(isinstance(x, list) for x in rows)
        ):
            warn(f"{r.path}: tables[{i}] is not a {{name, columns, rows}} entry; skipped")
            continue
        head = "".join(f"<th>{esc(str(c))}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td class='num'>{esc(_cell(v))}</td>" for v in row) + "</tr>" for row in rows
        )
        caption = esc(str(t.get("caption") or t.get("name", "")))
        parts.append(f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>")
    return parts


def _cell(value: object) -> str:
    return measured_text(value) if isinstance(value, float) else str(value)


def _write(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def _title(pid: str) -> str:
    try:
        return registry.get(pid).title
    except registry.UnknownPaper:
        return pid


def measured_text(x: float | None) -> str:
    """A claim's measured number as tables show it. A run records NaN when there is nothing to
    measure (a model never reached the bar a ratio divides by): that reads 'no number', and an
    infinite ratio (the bar never reached by the numerator's model) reads '∞'.

    Written here rather than in ``claims.fmt_number``: ``landmarks.claims`` is in every paper's
    code fingerprint, so a display change there would mark every recorded result stale."""
    if x is None or math.isnan(x):
        return "no number"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return fmt_number(x)


def _seconds(x: float) -> str:
    return f"{x:.1f}"


def from_cache(r: Result) -> bool:
    """Whether ``r`` loaded a model it starts from out of the user's cache instead of training
    it: a metric ``<name>_from_cache`` that is true (``base_from_cache``: a shared pretrained
    model; ``classifier_from_cache``: the fixed classifier that scores samples)."""
    metrics = r.data.get("metrics")
    return isinstance(metrics, dict) and any(
        k.endswith("_from_cache") and v is True for k, v in metrics.items()
    )


def _timing(r: Result) -> str:
    """Seconds, with the machine's speed where it was measured: '167.4 @ 378 / 41', and a
    dagger when a model the run starts from came out of the cache (its training not counted)."""
    probed = machine_probes(r.data)
    seconds = _seconds(r.data["seconds"]) + (CACHE_MARK if from_cache(r) else "")
    return seconds if probed is None else f"{seconds} @ {probed[0]:.0f} / {probed[1]:.0f}"


CACHE_MARK = "†"
CACHE_NOTE = (
    "† The run loaded a model it starts from (a pretrained base, or the fixed classifier that scores "
    "samples) from the user's cache, where an earlier run with the same settings, seed and data "
    "stored it; the seconds do not include training it. A run that trains it records the time in "
    "its metrics (base_seconds, pretrain_seconds, classifier_train_seconds), and a first run on a "
    "new machine pays it."
)


SPEED_NOTE = (
    "Seconds are wall-clock on the machine named above. A shared machine's speed drifts, and run "
    "times with it, so each run since 2026-11-28 records two probes of it, taken just before and "
    "after the run (their means shown): '167.4 @ 378 / 41' is 167.4 s with a 1024 × 1024 fp32 "
    "matmul at 378 GFLOP/s (throughput: convolutions, wide layers) and 41 µs per step of a small "
    "LSTM cell, batch 32 × 64 units (latency: recurrent models' many small ops). The two need not "
    "move together."
)


def _any_cached(results: list[Result], seeds: dict[str, list[Result]] | None) -> bool:
    return any(from_cache(r) for r in results) or any(
        from_cache(s) for rs in (seeds or {}).values() for s in rs
    )


def _papers(n: int) -> str:
    return f"{n} paper" + ("" if n == 1 else "s")


def _summary(results: list[Result]) -> tuple[int, int]:
    claims = [c for r in results for c in r.claims]
    return sum(c.verdict == REPRODUCED for c in claims), len(claims)


def _run_date(r: Result) -> str:
    created = r.data.get("created")
    return created[:10] if created else "date not recorded"


def _provenance(results: list[Result]) -> str:
    seeds = sorted({r.data["seed"] for r in results})
    devices = sorted({r.data["device"] for r in results})
    quick = any(r.data["quick"] for r in results)
    machines = sorted({_machine(r) for r in results if "machine" in r.data})
    dates = sorted(r.data["created"] for r in results if "created" in r.data)
    when = ""
    if dates:
        first, last = dates[0][:16].replace("T", " "), dates[-1][:16].replace("T", " ")
        when = f"run {first} UTC" if first == last else f"run between {first} and {last} UTC"
        when += "" if len(dates) == len(results) else f" ({len(results) - len(dates)} results undated)"
        when += "; "
    return (
        f"{when}seed {', '.join(map(str, seeds))}; device {', '.join(devices)}"
        f"{'; QUICK presets (smoke test, not a reproduction)' if quick else ''}; "
        + (
            "; ".join(machines)
            if machines
            else f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}"
        )
    )


def _machine(r: Result) -> str:
    m = r.data["machine"]
    return (
        f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores, {m.get('threads', '?')} threads), "
        f"{m.get('python', '?')}, torch {m.get('torch', '?')}"
    )


def _stale_note(results: list[Result], seeds: dict[str, list[Result]] | None = None) -> list[str]:
    """Lines under the summary naming the results that may no longer describe the code."""
    state = {r.paper: freshness(r) for r in results}
    stale_seeds = {
        r.paper: [s.data["seed"] for s in other_seeds(r, seeds or {}) if freshness(s) == CHANGED]
        for r in results
    }
    stale_seeds = {pid: ns for pid, ns in stale_seeds.items() if ns}
    changed = [pid for pid, s in state.items() if s == CHANGED]
    unrecorded = [pid for pid, s in state.items() if s in (UNRECORDED, OTHER_PYTHON)]
    lines = []
    if changed:
        lines.append(
            f"⚠ **{_papers(len(changed))} ran on code that has changed since** (their numbers may be "
            f"out of date): {', '.join(f'`{p}`' for p in changed)}. Rerun them: "
            f"`landmarks reproduce {' '.join(changed)} --out <this folder>`."
        )
    if unrecorded:
        lines.append(
            f"Whether the code has changed since cannot be told for {_papers(len(unrecorded))} "
            f"({', '.join(f'`{p}`' for p in unrecorded)}): no code fingerprint recorded, or one "
            "taken under another Python version."
        )
    if stale_seeds:
        numbers = sorted({n for ns in stale_seeds.values() for n in ns})
        lines.append(
            f"⚠ **Runs on other seeds of {_papers(len(stale_seeds))} ran on code that has changed since** "
            f"(marked ⚠ in their column): "
            + ", ".join(f"`{pid}` (seed {', '.join(map(str, ns))})" for pid, ns in stale_seeds.items())
            + f". Rerun them: `landmarks reproduce {' '.join(stale_seeds)} --seeds "
            f"{' '.join(map(str, numbers))} --out <this folder>`."
        )
    return lines


def markdown(
    results: list[Result], errors: dict[str, str], seeds: dict[str, list[Result]] | None = None
) -> str:
    seeds = seeds or {}
    ok, total = _summary(results)
    seed_line = _seed_summary(results, seeds)
    head, rule = (
        "| Paper | Claim | Paper's figure | Threshold | Measured | Verdict |",
        "|---|---|---|---|---|---|",
    )
    if seed_line:
        head, rule = head + " Other seeds (seed: verdict, measured) |", rule + "---|"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Results",
        "",
        f"Generated by `landmarks reproduce` (or `landmarks report`) on {stamp} from the result files "
        f"of {_papers(len(results))} ({_provenance(results) if results else 'no results'}).",
        "Do not edit by hand: rerun the command. Verdicts are computed from the measured numbers.",
        "",
        f"**{ok} of {total} claims reproduced** across {_papers(len(results))}.",
        "",
        *([seed_line, ""] if seed_line else []),
        *(line + "\n" for line in _stale_note(results, seeds)),
        *([SPEED_NOTE, ""] if any(machine_probes(r.data) for r in results) else []),
        *([CACHE_NOTE, ""] if _any_cached(results, seeds) else []),
        head + " Seconds | Run |",
        rule + "---|---|",
    ]
    for r in results:
        fresh = freshness(r)
        run = _run_date(r) + ("" if fresh == CURRENT else f" ({'⚠ ' if fresh == CHANGED else ''}{fresh})")
        others = other_seeds(r, seeds)
        for i, c in enumerate(r.claims):
            verdict = "✅ reproduced" if c.verdict == REPRODUCED else "❌ not reproduced"
            lines.append(
                f"| {'`' + r.paper + '`' if i == 0 else ''} | {_md(c.statement)} | {_md(c.paper_value)} "
                f"| `{c.threshold}` | {measured_text(c.measured)} | {verdict} "
                + (f"| {_seed_cell(c, r, others)} " if seed_line else "")
                + f"| {_timing(r) + _seed_timing(others) if i == 0 else ''} | {run if i == 0 else ''} |"
            )
    for pid, message in sorted(errors.items()):
        lines.append(
            f"| `{pid}` | run failed: {_md(message.splitlines()[-1] if message else '')} | | | | ❌ error "
            + ("| " if seed_line else "")
            + "| | |"
        )
    lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#666;font-size:.9em} table{border-collapse:collapse;width:100%;margin:1em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.4em .6em;text-align:left;vertical-align:top} th{background:#f5f5f7}
.ok{color:#0a7a2f;font-weight:600} .no{color:#b3261e;font-weight:600} .num{font-variant-numeric:tabular-nums;white-space:nowrap}
figure{display:inline-block;margin:.5em;max-width:48%;vertical-align:top} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555} caption{caption-side:top;text-align:left;font-size:.9em;color:#555;padding:.3em 0} details{margin:.5em 0} pre{background:#f5f5f7;padding:.6em;overflow-x:auto;font-size:.85em}
.summary{font-size:1.1em;padding:.6em 1em;background:#f5f5f7;border-radius:6px;display:inline-block}
"""


def html_page(
    results: list[Result], errors: dict[str, str], root: Path, seeds: dict[str, list[Result]] | None = None
) -> str:
    seeds = seeds or {}
    ok, total = _summary(results)
    seed_line = _seed_summary(results, seeds)
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>landmarks report</title><style>{_CSS}</style></head><body>",
        "<h1>landmarks: reproduction report</h1>",
        f"<p class='meta'>{esc(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))} · "
        f"{esc(_provenance(results)) if results else ''}</p>",
        f"<p class='summary'><b>{ok} of {total}</b> claims reproduced across {_papers(len(results))}</p>",
        *([f"<p class='meta'>{esc(seed_line.replace('**', ''))}</p>"] if seed_line else []),
        *(
            f"<p class='meta'>{esc(line.replace('**', '').replace('`', ''))}</p>"
            for line in _stale_note(results, seeds)
        ),
        *([f"<p class='meta'>{esc(SPEED_NOTE)}</p>"] if any(machine_probes(r.data) for r in results) else []),
        *([f"<p class='meta'>{esc(CACHE_NOTE)}</p>"] if _any_cached(results, seeds) else []),
        "<table><tr><th>Paper</th><th>Claims reproduced</th>"
        + ("<th>Other seeds</th>" if seed_line else "")
        + "<th>Seconds</th><th>Run</th></tr>",
    ]
    for r in results:
        n_ok = sum(c.verdict == REPRODUCED for c in r.claims)
        cls = "ok" if n_ok == len(r.claims) else "no"
        fresh = freshness(r)
        run = _run_date(r) + ("" if fresh == CURRENT else f" ({fresh})")
        others = other_seeds(r, seeds)
        per_seed = seeds_held(r, others)
        parts.append(
            f"<tr><td><a href='#{esc(r.paper)}'>{esc(r.paper)}</a> — {esc(_title(r.paper))}</td>"
            f"<td class='{cls}'>{n_ok} / {len(r.claims)}</td>"
            + (f"<td class='num'>{esc(per_seed)}</td>" if seed_line else "")
            + f"<td class='num'>{esc(_timing(r) + _seed_timing(others))}</td>"
            f"<td class='{'' if fresh == CURRENT else 'no'}'>{esc(run)}</td></tr>"
        )
    for pid in sorted(errors):
        parts.append(
            f"<tr><td>{esc(pid)}</td><td class='no'>run failed</td>{'<td></td>' if seed_line else ''}<td></td><td></td></tr>"
        )
    parts.append("</table>")

    missing: list[str] = []
    for r in results:
        paper = _paper_or_none(r.paper)
        parts.append(f"<h2 id='{esc(r.paper)}'>{esc(r.paper)}: {esc(_title(r.paper))}</h2>")
        if paper:
            parts.append(
                f"<p class='meta'>{esc(paper.authors)} ({paper.year}) · "
                f"<a href='{esc(paper.url)}'>{esc(paper.url)}</a><br>{esc(paper.takeaway)}</p>"
            )
        others = other_seeds(r, seeds)
        parts.append(
            "<table><tr><th>Claim</th><th>Paper's figure</th><th>Threshold</th><th>Measured</th><th>Verdict</th>"
            + ("<th>Other seeds (seed: verdict, measured)</th>" if others else "")
            + "</tr>"
        )
        for c in r.claims:
            good = c.verdict == REPRODUCED
            parts.append(
                f"<tr><td>{esc(c.statement)}</td><td>{esc(c.paper_value)}</td><td><code>{esc(c.threshold)}</code></td>"
                f"<td class='num'>{esc(measured_text(c.measured))}</td>"
                f"<td class='{'ok' if good else 'no'}'>{'✔ reproduced' if good else '✘ not reproduced'}</td>"
                + (f"<td class='num'>{esc(_seed_cell(c, r, others))}</td>" if others else "")
                + "</tr>"
            )
        parts.append("</table>")
        parts.append(_card_details(r.paper))
        for name, png, caption in _figures(r, missing):
            data = base64.b64encode(png).decode()
            parts.append(
                f"<figure><img alt='{esc(name)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{esc(caption)}</figcaption></figure>"
            )
        parts.extend(_tables(r))
        parts.append(
            f"<details><summary>Run details: seed {r.data['seed']}, device {esc(r.data['device'])}, "
            f"{esc(machine_note(r.data))}</summary><pre>"
            f"{esc(json.dumps({'config': r.data['config'], 'metrics': _short_metrics(r.data['metrics'])}, indent=1))}"
            "</pre></details>"
        )
    for pid, message in sorted(errors.items()):
        parts.append(f"<h2 id='{esc(pid)}'>{esc(pid)}: run failed</h2><pre>{esc(message)}</pre>")
    if missing:  # one line, not one per plot: a kept results folder has no plots at all
        warn(
            f"{len(missing)} plot file(s) named by the results are not in {root} (e.g. {missing[0]}); "
            "the report shows none of them. A paper's plots are drawn again when it is rerun."
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _card_details(pid: str) -> str:
    """The card's notes, and what the toy keeps and shrinks, folded under the claims."""
    paper = _paper_or_none(pid)
    try:
        card = paper.load().CARD if paper else None
    except Exception:  # a report must still build if a module cannot be imported here
        card = None
    if card is None:
        return ""
    esc = html.escape
    items = lambda xs: "".join(f"<li>{esc(x)}</li>" for x in xs)  # noqa: E731
    notes = f"<p>{esc(card.notes)}</p>" if card.notes else ""
    return (
        "<details><summary>What the toy keeps and what it shrinks</summary>"
        f"{notes}<p><b>Keeps</b></p><ul>{items(card.keeps)}</ul><p><b>Shrinks</b></p><ul>{items(card.shrinks)}</ul>"
        "</details>"
    )


def _paper_or_none(pid: str) -> registry.Paper | None:
    try:
        return registry.get(pid)
    except registry.UnknownPaper:
        return None


def _short_metrics(metrics: dict) -> dict:
    """Scalars in full; long series summarised, so the details block stays readable."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, list) and len(v) > 8:
            out[k] = f"[{len(v)} values]"
        else:
            out[k] = v
    return out
