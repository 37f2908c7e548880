"""Provenance of results: the code fingerprint, and the report's marks on results the code has outgrown."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from landmarks import provenance
from landmarks.cli import main


def test_closure_follows_landmarks_imports_through_packages() -> None:
    closure = provenance.module_closure("landmarks.papers.pointer_networks")
    # direct imports, a module imported by one of them, and the packages that run first
    for name in (
        "landmarks.nn.pointer",
        "landmarks.nn.recurrent",
        "landmarks.engine.train",
        "landmarks.papers",
    ):
        assert name in closure
    assert "landmarks.papers.lstm" not in closure  # another paper is not part of it
    # ``from landmarks.engine import Run`` names a class, not a module, on any disk
    assert provenance.module_file("landmarks.engine.Run") is None
    assert provenance.module_file("landmarks.engine.run") is not None
    assert all(m.startswith("landmarks") for m in closure)  # torch, numpy... are not followed
    # a paper that imports another paper module (transformer races bahdanau-attention's RNNsearch)
    assert "landmarks.papers.bahdanau_attention" in provenance.module_closure("landmarks.papers.transformer")


def test_the_fingerprint_ignores_docstrings_comments_and_layout(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "landmarks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("def f(x):\n    return x + 1\n")
    paper = package / "paper.py"
    paper.write_text('"""A paper."""\nfrom landmarks.helper import f\n\nY = f(1)\n')
    monkeypatch.setattr(provenance, "ROOT", package)
    first = provenance.code_fingerprint("landmarks.paper")
    assert provenance.module_closure("landmarks.paper") == [
        "landmarks",
        "landmarks.helper",
        "landmarks.paper",
    ]

    paper.write_text(
        '"""Another docstring."""\nfrom landmarks.helper import f  # a comment\n\n\nY = f( 1 )\n'
    )
    assert provenance.code_fingerprint("landmarks.paper") == first
    paper.write_text('"""A paper."""\nfrom landmarks.helper import f\n\nY = f(2)\n')
    changed = provenance.code_fingerprint("landmarks.paper")
    assert changed != first
    (package / "helper.py").write_text("def f(x):\n    return x + 2\n")  # an imported module changes
    assert provenance.code_fingerprint("landmarks.paper") not in (first, changed)


def test_the_fingerprint_ignores_a_cards_prose_but_not_its_claims(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "landmarks"
    package.mkdir()
    (package / "__init__.py").write_text("")
    paper = package / "paper.py"
    card = (
        "from landmarks.registry import Card, ClaimSpec\n"
        "CARD = Card(citation={citation!r}, takeaways=[{takeaway!r}], claims=[ClaimSpec({claim!r}, "
        "{threshold!r}, 'Fig. 1')], keeps=['k'], shrinks=[{shrink!r}], figures={{'Fig. 1': 'f'}}, "
        "notes={notes!r})\n"
        "OTHER = Card(citation={citation!r}, takeaways=[], claims=[], keeps=[], shrinks=[])\n"
    )
    base = dict(citation="A. Author 2020", takeaway="t", claim="accuracy", threshold=">= 0.9",
                shrink="s", notes="measured 0.91")  # fmt: skip
    monkeypatch.setattr(provenance, "ROOT", package)

    def fingerprint(**changes: str) -> str:
        paper.write_text(card.format(**(base | changes)))
        return provenance.code_fingerprint("landmarks.paper")

    first = fingerprint()
    # the prose a reader reads: the report and `landmarks show` take it from the module as it is
    assert fingerprint(notes="measured 0.93 to 0.95", shrink="s, shrunk", takeaway="u") == first
    # what a result records: the claim's statement and threshold
    assert fingerprint(claim="test accuracy") != first
    assert fingerprint(threshold=">= 0.8") != first
    # only the module's CARD is a card: another Card-valued name is code like any other
    assert fingerprint(citation="B. Author 2021") != first
    # the names left out are Card's own fields, and never its claims
    from dataclasses import fields

    from landmarks.registry import Card

    card_fields = {f.name for f in fields(Card)}
    assert "claims" in card_fields and "claims" not in provenance.CARD_PROSE
    assert provenance.CARD_PROSE.issubset(card_fields)


def test_a_run_records_when_what_and_on_which_code(toy_paper, tmp_path: Path) -> None:
    assert main(["run", "toy", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "toy" / "result.json").read_text())
    assert result["code"] == provenance.code_fingerprint("toy_paper")
    assert result["created"].endswith("Z") and result["created"][:2] == "20"
    assert {"cpu", "cores", "threads", "python", "torch"} <= result["machine"].keys()


def _reproduce_toy(out: Path) -> Path:
    assert main(["reproduce", "toy", "--quick", "--out", str(out)]) == 0
    return out / "toy" / "result.json"


def test_the_report_marks_results_of_code_that_changed(toy_paper, tmp_path: Path, capsys) -> None:
    path = _reproduce_toy(tmp_path)
    md = (tmp_path / "RESULTS.md").read_text()
    assert "⚠" not in md and "not recorded" not in md  # current: just the date
    data = json.loads(path.read_text())
    assert f"| {data['created'][:10]} |" in md

    data["code"] = "0" * 16  # as if computed by other code
    path.write_text(json.dumps(data))
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "RESULTS.md").read_text()
    assert "⚠ **1 paper ran on code that has changed since**" in md
    assert "`landmarks reproduce toy --out <this folder>`" in md
    assert "(⚠ code changed since)" in md
    assert "code changed since" in (tmp_path / "report.html").read_text()

    for key in ("code", "created", "machine"):  # a result written before provenance was kept
        del data[key]
    path.write_text(json.dumps(data))
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "RESULTS.md").read_text()
    assert "cannot be told for 1 paper (`toy`)" in md
    assert "date not recorded (code version not recorded)" in md

    data |= {"code": "0" * 16, "machine": {"python": "CPython 2.7.18"}}  # another Python's trees
    path.write_text(json.dumps(data))
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "RESULTS.md").read_text()
    assert "cannot be told for 1 paper" in md and "(code fingerprinted under another Python)" in md


def test_list_reads_the_kept_results_and_marks_changed_code(
    toy_paper, tmp_path: Path, monkeypatch, capsys
) -> None:
    kept = tmp_path / "results"
    path = _reproduce_toy(kept)
    monkeypatch.setenv("LANDMARKS_RUNS", str(tmp_path / "no-runs"))
    monkeypatch.setenv("LANDMARKS_RESULTS", str(kept))
    capsys.readouterr()
    assert main(["list"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if " toy " in row)
    assert "reproduced" in line and "(quick)" in line and "code changed" not in line
    data = json.loads(path.read_text())
    data["code"] = "0" * 16
    path.write_text(json.dumps(data))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "code changed" in out  # rich may fold the long status over two lines


def test_malformed_provenance_is_refused(toy_paper, tmp_path: Path, capsys) -> None:
    path = _reproduce_toy(tmp_path)
    data = json.loads(path.read_text())
    data["machine"] = "a laptop"
    path.write_text(json.dumps(data))
    assert main(["report", str(tmp_path)]) == 2
    assert "'machine' must be an object" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/cpuinfo")
def test_python_tag_keeps_the_minor_version() -> None:
    assert (
        provenance.python_tag("CPython 3.11.7") == "CPython 3.11" == provenance.python_tag("CPython 3.11.9")
    )
    assert provenance.python_tag("CPython 3.12.0") != provenance.python_tag("CPython 3.11.0")


def test_machine_names_the_cpu() -> None:
    m = provenance.machine("cpu", 2, "2.0")
    assert m["cpu"] and m["threads"] == 2 and m["torch"] == "2.0" and m["device"] == "cpu"


def test_a_results_folder_without_plots_warns_once(toy_paper, tmp_path: Path, capsys) -> None:
    """results/ keeps result files only: the report says once that the plots are absent."""
    _reproduce_toy(tmp_path)
    for png in tmp_path.glob("toy/*.png"):
        png.unlink()
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err.count("plot file(s) named by the results are not in") == 1 and "toy/loss.png" in err
    assert "data:image/png" not in (tmp_path / "report.html").read_text()


def test_a_run_records_the_machines_speed_around_it(toy_paper, tmp_path: Path, capsys) -> None:
    """The runner probes the matmul speed and an LSTM step's latency before and after a run; the
    report and `run` show them beside the seconds, since a shared machine's speed, and every time
    measured on it, drifts. Quick runs, whose seconds say nothing, skip the probes."""
    assert "matmul_gflops" not in json.loads(_reproduce_toy(tmp_path / "quick").read_text())["machine"]
    capsys.readouterr()
    assert main(["reproduce", "toy", "--out", str(tmp_path)]) == 0  # the default preset: timed
    path = tmp_path / "toy" / "result.json"
    data = json.loads(path.read_text())
    for key in provenance.PROBES:
        before, after = data["machine"][key]
        assert before > 0 and after > 0
        assert provenance.probe_mean(data, key) == pytest.approx((before + after) / 2)
    speed, latency = provenance.machine_probes(data)
    md = (tmp_path / "RESULTS.md").read_text()
    assert f"{data['seconds']:.1f} @ {speed:.0f} / {latency:.0f} |" in md and "1024 × 1024 fp32" in md
    note = f"(machine at {speed:.0f} GFLOP/s, {latency:.0f} µs per LSTM step)"
    assert (
        note in (tmp_path / "report.html").read_text() and note == provenance.machine_note(data)[-len(note) :]
    )

    del data["machine"]["lstm_step_us"]  # a result recorded before both probes: seconds alone
    path.write_text(json.dumps(data))
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "RESULTS.md").read_text()
    assert " @ " not in md and "GFLOP/s" not in md and provenance.machine_probes(data) is None

    for bad in ("fast", [], [300.0, -1.0], [True]):
        data["machine"]["matmul_gflops"] = bad
        path.write_text(json.dumps(data))
        assert main(["report", str(tmp_path)]) == 2
        assert "'machine.matmul_gflops' must be a list of positive numbers" in capsys.readouterr().err


def test_the_probes_measure_positive_speeds() -> None:
    assert provenance.matmul_gflops("cpu", n=128, repeats=3, warmup_seconds=0.01) > 0
    assert provenance.lstm_step_us("cpu", steps=5, repeats=3, warmup_seconds=0.01) > 0


def test_the_report_marks_runs_that_loaded_a_model_from_the_cache(toy_paper, tmp_path: Path) -> None:
    """A run whose pretrained base (or fixed classifier) came from the cache did not pay for
    training it: its seconds carry a dagger and the report says what that leaves out."""
    from landmarks.report import CACHE_NOTE

    path = _reproduce_toy(tmp_path)
    data = json.loads(path.read_text())
    seconds = f"{data['seconds']:.1f}"
    assert CACHE_NOTE not in (tmp_path / "RESULTS.md").read_text()
    for flag, marked in ((True, True), (False, False), ("yes", False)):
        data["metrics"]["base_from_cache"] = flag
        path.write_text(json.dumps(data))
        assert main(["report", str(tmp_path)]) == 0
        md, page = (tmp_path / "RESULTS.md").read_text(), (tmp_path / "report.html").read_text()
        assert (f"{seconds}† |" in md) is marked and (CACHE_NOTE in md) is marked
        assert (f"{seconds}†" in page) is marked
