"""The command line, as a user meets it: messages, exit codes, files written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from landmarks.cli import main


def test_list_does_not_import_torch(tmp_path: Path) -> None:
    code = "import sys; from landmarks.cli import main; main(['list']); assert 'torch' not in sys.modules"
    env = {**os.environ, "LANDMARKS_RUNS": str(tmp_path)}  # no results yet, whatever runs/ holds
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "lstm" in out.stdout and "not run" in out.stdout


def test_unknown_id_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "lsmt"]) == 2
    err = capsys.readouterr().err
    assert "unknown paper id 'lsmt'" in err and "lstm" in err
    assert main(["show", "resnt"]) == 2
    assert "resnet" in capsys.readouterr().err


def test_bad_set_lists_the_valid_keys(toy_paper, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "toy", "--set", "stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'stepz'" in err and "steps (int" in err and "dropout (float" in err
    assert main(["run", "toy", "--set", "steps=many"]) == 2
    assert "expected int" in capsys.readouterr().err


def test_set_help_lists_keys(toy_paper, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "toy", "--set", "help"]) == 0
    assert "lr (float" in capsys.readouterr().out


def test_run_writes_the_result_contract(
    toy_paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "toy", "--quick", "--seed", "5", "--device", "cpu", "--out", str(tmp_path)]
    assert main([*argv, "--set", "lr=0.02"]) == 0
    result = json.loads((tmp_path / "toy" / "result.json").read_text())
    assert {
        "schema",
        "paper",
        "seed",
        "quick",
        "device",
        "seconds",
        "config",
        "metrics",
        "claims",
    } <= result.keys()
    assert (
        result["schema"] == 1 and result["paper"] == "toy" and result["seed"] == 5 and result["quick"] is True
    )
    assert result["config"]["lr"] == 0.02 and result["device"] == "cpu"
    (claim,) = result["claims"]
    assert set(claim) == {"statement", "measured", "threshold", "paper_value", "verdict"}
    assert claim["verdict"] in ("reproduced", "not reproduced")
    assert (tmp_path / "toy" / "loss.png").exists()
    assert "final training loss is small" in capsys.readouterr().out


def test_cuda_when_absent_is_a_clear_error(toy_paper, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["run", "toy", "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_more_processes_than_gpus_is_a_clear_error(
    toy_paper, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert main(["run", "toy", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "2 processes" in err and "--nproc_per_node=1" in err


def test_data_dir_for_a_paper_that_ignores_it(
    toy_paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "toy", "--quick", "--data-dir", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "does not read --data-dir" in capsys.readouterr().err


def test_reproduce_then_report_and_list(
    toy_paper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert main(["reproduce", "toy", "--quick", "--out", str(runs / "r1")]) == 0
    md = (runs / "r1" / "RESULTS.md").read_text()
    assert "| `toy` | final training loss is small | 0 (noise-free) | `<= 0.5` |" in md
    page = (runs / "r1" / "report.html").read_text()
    assert "data:image/png;base64," in page and "A Toy Paper" in page
    (runs / "r1" / "RESULTS.md").unlink()
    assert main(["report", str(runs / "r1")]) == 0
    assert (runs / "r1" / "RESULTS.md").read_text().count("`toy`") == 1
    monkeypatch.setenv("LANDMARKS_RUNS", str(runs))
    capsys.readouterr()
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "(quick)" in out


def test_report_on_a_malformed_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lstm").mkdir()
    (tmp_path / "lstm" / "result.json").write_text('{"schema": 1, "paper": "lstm"')
    assert main(["report", str(tmp_path)]) == 2
    assert "not a readable JSON result file" in capsys.readouterr().err
    (tmp_path / "lstm" / "result.json").write_text('{"schema": 1, "paper": "lstm"}')
    assert main(["report", str(tmp_path)]) == 2
    assert "missing keys" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == 2


def test_resume_without_checkpoints_is_a_clear_error(
    toy_paper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANDMARKS_RUNS", str(tmp_path))
    assert main(["run", "toy", "--resume"]) == 2
    assert "found no checkpoints" in capsys.readouterr().err


def test_interrupted_run_tells_how_to_resume(
    toy_paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toy_paper.INTERRUPT_AT = 4
    assert main(["run", "toy", "--out", str(tmp_path)]) == 130
    assert f"landmarks run toy --out {tmp_path} --resume" in capsys.readouterr().err
    toy_paper.INTERRUPT_AT = None
    assert main(["run", "toy", "--out", str(tmp_path), "--resume"]) == 0


def test_corrupt_checkpoint_on_resume_exits_2(
    toy_paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ck = tmp_path / "toy" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "a.pt").write_bytes(b"\x00garbage")
    assert main(["run", "toy", "--out", str(tmp_path), "--resume"]) == 2
    assert "cannot be read" in capsys.readouterr().err
