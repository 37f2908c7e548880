"""Paths a user passes, and files a results folder names: a clear message and exit 2, or a
warning and a skip, never a traceback, and never a file from outside the chosen folder."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from landmarks.cli import main
from landmarks.files import PNG_SIGNATURE, UnsafeName, file_inside, safe_plot_path

CLAIM = {"statement": "s", "measured": 1.0, "threshold": ">= 0.5", "paper_value": "p"}
SECRET = PNG_SIGNATURE + b"the key to the castle"  # a PNG, so only the folder check can stop it


def _result(folder: Path, paper: str = "lstm", **fields: object) -> Path:
    """A hand-written result file, as someone might send one."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "schema": 1,
        "paper": paper,
        "seed": 0,
        "quick": True,
        "device": "cpu",
        "seconds": 1.0,
        "config": {},
        "metrics": {},
        "claims": [CLAIM],
        **fields,
    }
    path = folder / "result.json"
    path.write_text(json.dumps(data))
    return path


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---- report: what a result file names ------------------------------------------------------


def test_report_embeds_only_pngs_inside_the_paper_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(SECRET)
    root = tmp_path / "sent" / "r1"
    paper = root / "lstm"
    paper.mkdir(parents=True)
    (paper / "ok.png").write_bytes(PNG_SIGNATURE + b"a real plot")
    (paper / "link.png").symlink_to(secret)
    (paper / "notes.png").write_text("not an image, whatever its name says")
    hostile = [
        "../../../secret.png",  # .. out of the folder
        str(secret),  # an absolute path
        "link.png",  # a symlink out of the folder
        "notes.png",  # inside, but not a PNG
        "../../../../../../../../etc/hostname",  # the issue's own example
        "sub/ok.png",  # a folder in the name, even one that stays inside
    ]
    result = _result(paper, plots=[{"file": f, "caption": f} for f in [*hostile, "ok.png"]])

    assert main(["report", str(root)]) == 0
    page = (root / "report.html").read_text()
    assert _b64(SECRET) not in page
    if Path("/etc/hostname").is_file():
        assert _b64(Path("/etc/hostname").read_bytes()) not in page
    assert _b64(PNG_SIGNATURE + b"a real plot") in page  # the one plain PNG is still there
    err = capsys.readouterr().err
    for name in hostile:
        assert f"{result}: plot {name!r}" in err, name
    assert "leads outside the paper's folder" in err and "is not a PNG image" in err
    assert "plain file name" in err


def test_report_skips_plot_entries_of_the_wrong_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _result(tmp_path / "lstm", plots=[1, {"file": 3}, {"caption": "no file"}, "a.png"])
    _result(tmp_path / "resnet", paper="resnet", plots={"file": "a.png"})
    assert main(["report", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    for i in range(4):
        assert f"{result}: plots[{i}] is not" in err
    assert "resnet/result.json: 'plots' is not a list" in err
    assert (tmp_path / "report.html").exists()


def test_report_renders_tables_escaped_and_skips_malformed_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {"name": "t", "caption": "<b>rungs</b>", "columns": ["rung", "accuracy"], "rows": [[0, 0.123456]]}
    result = _result(tmp_path / "lstm", tables=[good, {"name": "bad", "columns": "x", "rows": []}, 7])
    _result(tmp_path / "resnet", paper="resnet", tables={"name": "t"})
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "<caption>&lt;b&gt;rungs&lt;/b&gt;</caption><tr><th>rung</th><th>accuracy</th></tr>" in page
    assert "<td class='num'>0.123</td>" in page  # numbers as the claims table writes them (fmt_number)
    err = capsys.readouterr().err
    assert f"{result}: tables[1] is not" in err and f"{result}: tables[2] is not" in err
    assert "resnet/result.json: 'tables' is not a list" in err


def test_run_table_checks_its_rows_and_replaces_by_name(tmp_path: Path) -> None:
    import torch

    from landmarks.engine.run import Run

    run = Run("lstm", 0, torch.device("cpu"), tmp_path)
    run.table("t", ["a", "b"], [[1, torch.tensor(2.5)]], "first")
    run.table("t", ["a", "b"], [[3, 4]], "second")
    assert run.tables == [{"name": "t", "caption": "second", "columns": ["a", "b"], "rows": [[3, 4]]}]
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        run.table("u", ["a", "b"], [[1]])


def test_report_reads_no_result_or_error_file_linked_from_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the key to the castle")
    elsewhere = _result(tmp_path / "elsewhere", claims=[{**CLAIM, "statement": "the key to the castle"}])
    root = tmp_path / "sent"
    _result(root / "lstm")
    (root / "resnet").mkdir()
    (root / "resnet" / "result.json").symlink_to(elsewhere)
    (root / "coffee-automaton").mkdir()
    (root / "coffee-automaton" / "error.txt").symlink_to(secret)

    assert main(["report", str(root)]) == 0
    page = (root / "report.html").read_text() + (root / "RESULTS.md").read_text()
    assert "the key to the castle" not in page
    err = capsys.readouterr().err
    assert "resnet/result.json is a link that leads outside" in err
    assert "coffee-automaton/error.txt is a link that leads outside" in err


def test_report_warns_when_a_result_sits_in_another_paper_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _result(tmp_path / "mine", paper="lstm")
    assert main(["report", str(tmp_path)]) == 0
    assert "is a result of 'lstm' in the folder 'mine'" in capsys.readouterr().err
    assert _files(tmp_path) == {"mine", "mine/result.json", "RESULTS.md", "report.html"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"seed": "zero"}, "'seed' must be an integer"),
        ({"paper": 7}, "'paper' must be text"),
        ({"seconds": "fast"}, "'seconds' must be a number"),
        ({"metrics": []}, "'metrics' must be an object"),
        ({"claims": [{**CLAIM, "statement": 5}]}, "claims[0] must be an object"),
    ],
)
def test_report_on_ill_typed_fields_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict, message: str
) -> None:
    _result(tmp_path / "lstm", **fields)
    assert main(["report", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_report_dir_missing_or_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("x")
    assert main(["report", str(tmp_path / "a_file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_file_inside_and_safe_plot_path(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG_SIGNATURE)
    assert safe_plot_path(tmp_path, "a.png") == (tmp_path / "a.png").resolve()
    for bad in ("..", ".", "", "/etc/hostname", "..\\x.png", "a/../a.png", None, 3):
        with pytest.raises(UnsafeName):
            file_inside(tmp_path, bad)
    with pytest.raises(UnsafeName, match="does not exist"):
        file_inside(tmp_path, "b.png")
    (tmp_path / "sub").mkdir()
    with pytest.raises(UnsafeName, match="not a regular file"):
        file_inside(tmp_path, "sub")


# ---- the command line: paths a user passes -------------------------------------------------


@pytest.mark.parametrize("command", ["run", "reproduce"])
def test_out_on_a_file_exits_2_before_any_work(
    toy_paper,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # a default runs/ would show up here too
    some_file = tmp_path / "some_file"
    some_file.write_text("keep me")
    assert main([command, "toy", "--quick", "--out", str(some_file)]) == 2
    err = capsys.readouterr().err
    assert f"--out {some_file} is a file, not a folder" in err and "Traceback" not in err
    assert main([command, "toy", "--quick", "--out", str(some_file / "sub")]) == 2
    assert f"{some_file} is a file, not a folder" in capsys.readouterr().err
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "toy").write_text("a file where the paper's folder goes")
    assert main([command, "toy", "--quick", "--out", str(tmp_path / "out")]) == 2
    assert "out/toy is a file, not a folder" in capsys.readouterr().err
    assert some_file.read_text() == "keep me"
    assert _files(tmp_path) == {"some_file", "out", "out/toy"}


def test_out_not_writable_exits_2(toy_paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["run", "toy", "--quick", "--out", str(locked / "r")]) == 2
    assert "cannot write in" in capsys.readouterr().err


def test_data_dir_missing_or_a_file(toy_paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", "toy", "--quick", "--data-dir", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert f"--data-dir {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("x")
    assert main(["run", "toy", "--quick", "--data-dir", str(tmp_path / "a_file"), "--out", str(out)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert not out.exists()


def test_list_runs_missing_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "--runs", str(tmp_path / "nowhere")]) == 2
    assert "--runs" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("x")
    assert main(["list", "--runs", str(tmp_path / "a_file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    monkeypatch.setenv("LANDMARKS_RUNS", str(tmp_path / "nowhere"))  # nothing has run yet: fine
    assert main(["list"]) == 0
    assert "not run" in capsys.readouterr().out
    monkeypatch.setenv("LANDMARKS_RUNS", str(tmp_path / "a_file"))
    assert main(["list"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
