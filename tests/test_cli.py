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


# ---- other seeds: landmarks reproduce --seeds --------------------------------------------------


def test_reproduce_on_other_seeds_beside_the_main_result(
    toy_paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from landmarks.report import measured_text

    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path)]) == 0
    main_result = (tmp_path / "toy" / "result.json").read_bytes()
    assert "Other seeds" not in (tmp_path / "RESULTS.md").read_text()  # no column without them
    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path), "--seeds", "2", "1", "2"]) == 0
    assert (tmp_path / "toy" / "result.json").read_bytes() == main_result  # left as it is
    measured = {}
    for n in (1, 2):
        result = json.loads((tmp_path / "toy" / f"seed-{n}" / "result.json").read_text())
        assert result["seed"] == n and result["paper"] == "toy"
        assert (tmp_path / "toy" / f"seed-{n}" / "loss.png").exists()
        measured[n] = result["claims"][0]
    md = (tmp_path / "RESULTS.md").read_text()
    assert "Other seeds (seed: verdict, measured)" in md
    assert "**On other seeds** (1, 2; 1 paper)" in md
    cell = " · ".join(
        f"{n}: {'✅' if c['verdict'] == 'reproduced' else '❌'} {measured_text(c['measured'])}"
        for n, c in measured.items()
    )
    assert cell in md
    assert "; seed 1: " in md and "; seed 2: " in md  # their seconds beside the main run's
    page = (tmp_path / "report.html").read_text()
    assert "Other seeds" in page and "seed 1: " in page
    # the same report comes back from the files alone
    (tmp_path / "RESULTS.md").unlink()
    assert main(["report", str(tmp_path)]) == 0
    assert cell in (tmp_path / "RESULTS.md").read_text()


def test_list_shows_the_claims_held_on_other_seeds(
    toy_paper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`landmarks list` gives one seed's status; the runs on other seeds beside it are counted
    too, and a malformed one is skipped with a warning, not a traceback."""
    out = tmp_path / "runs" / "r1"
    assert main(["reproduce", "toy", "--quick", "--out", str(out)]) == 0
    monkeypatch.setenv("LANDMARKS_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("LANDMARKS_RESULTS", str(tmp_path / "no-results"))
    capsys.readouterr()
    assert main(["list"]) == 0
    assert "other seeds" not in capsys.readouterr().out  # no column without them
    assert main(["reproduce", "toy", "--quick", "--out", str(out), "--seeds", "1", "2"]) == 0
    path = out / "toy" / "seed-2" / "result.json"
    result = json.loads(path.read_text())
    result["claims"][0]["measured"] = 99.0  # far above the threshold (<= 0.5): not reproduced
    path.write_text(json.dumps(result))
    held = (
        json.loads((out / "toy" / "seed-1" / "result.json").read_text())["claims"][0]["verdict"]
        == "reproduced"
    )
    capsys.readouterr()
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    line = next(row for row in listed.splitlines() if " toy " in row)
    assert f"1: {int(held)}/1 · 2: 0/1" in line and "other seeds" in listed
    # a run of another preset than the status column's is marked as such
    result["quick"] = False
    path.write_text(json.dumps(result))
    capsys.readouterr()
    assert main(["list"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if " toy " in row)
    assert f"1: {int(held)}/1 · 2: 0/1 (full)" in line
    path.write_text("{not json")
    assert main(["list"]) == 0
    captured = capsys.readouterr()
    assert "not a readable JSON result file" in captured.err
    line = next(row for row in captured.out.splitlines() if " toy " in row)
    assert f"1: {int(held)}/1" in line and "2: " not in line


def test_seeds_counted_against_the_thresholds(toy_paper, tmp_path: Path) -> None:
    from landmarks.report import markdown
    from landmarks.results import find_results, find_seed_results

    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path)]) == 0
    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path), "--seeds", "1"]) == 0
    path = tmp_path / "toy" / "seed-1" / "result.json"
    result = json.loads(path.read_text())
    main_ok = (
        json.loads((tmp_path / "toy" / "result.json").read_text())["claims"][0]["verdict"] == "reproduced"
    )
    result["claims"][0]["measured"] = 99.0  # far above the threshold (<= 0.5): not reproduced
    result["claims"][0]["verdict"] = "reproduced"  # a verdict written in is ignored
    path.write_text(json.dumps(result))
    md = markdown(find_results(tmp_path), {}, find_seed_results(tmp_path))
    assert "1: ❌ 99" in md
    assert "**0 of 1 claim checks reproduced**; 0 of 1 paper reproduce every claim" in md
    result["claims"][0]["measured"] = 0.0
    path.write_text(json.dumps(result))
    md = markdown(find_results(tmp_path), {}, find_seed_results(tmp_path))
    assert "1: ✅ 0" in md and "(full)" not in md
    path.write_text(json.dumps(result | {"quick": False}))  # a full run beside a quick main run
    md = markdown(find_results(tmp_path), {}, find_seed_results(tmp_path))
    assert "1: ✅ 0 (full)" in md
    assert f"{int(main_ok)} of 1 paper reproduce every claim on every seed" in md


def test_seed_runs_on_changed_code_are_marked(toy_paper, tmp_path: Path) -> None:
    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path)]) == 0
    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path), "--seeds", "3"]) == 0
    path = tmp_path / "toy" / "seed-3" / "result.json"
    result = json.loads(path.read_text())
    path.write_text(json.dumps(result | {"code": "0" * 16}))
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "RESULTS.md").read_text()
    assert " ⚠ |" in md
    assert "landmarks reproduce toy --seeds 3 --out <this folder>" in md


def test_seed_folders_that_are_not_ours_or_lead_out_are_skipped(
    toy_paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    assert main(["reproduce", "toy", "--quick", "--out", str(results)]) == 0
    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path / "elsewhere")]) == 0
    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path / "elsewhere"), "--seeds", "1"]) == 0
    (results / "toy" / "seed-1").symlink_to(tmp_path / "elsewhere" / "toy" / "seed-1")
    (results / "toy" / "seed-x").mkdir()
    (results / "toy" / "seed-x" / "result.json").write_text("not json")
    capsys.readouterr()
    assert main(["report", str(results)]) == 0
    assert "links outside the paper's folder; skipped" in capsys.readouterr().err
    assert "Other seeds" not in (results / "RESULTS.md").read_text()


def test_bad_seeds_are_refused(toy_paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "toy", "--out", str(tmp_path), "--seed", "3", "--seeds", "1"]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert main(["reproduce", "toy", "--out", str(tmp_path), "--seeds", "-1"]) == 2
    assert "seeds are integers >= 0" in capsys.readouterr().err
    assert main(["reproduce", "toy", "--out", str(tmp_path), "--seeds", "1"]) == 2
    assert "run `landmarks reproduce toy --out" in capsys.readouterr().err  # the main result first
    assert not (tmp_path / "toy").exists()  # refused before any work


def test_a_failed_seed_run_is_reported_and_the_rest_go_on(
    toy_paper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reproduce = toy_paper.reproduce

    def fails_on_seed_1(cfg, run):  # type: ignore[no-untyped-def]
        if run.seed == 1:
            raise RuntimeError("seed one breaks")
        reproduce(cfg, run)

    monkeypatch.setattr(toy_paper, "reproduce", fails_on_seed_1)
    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path)]) == 0
    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path), "--seeds", "1", "2"]) == 1
    assert "seed one breaks" in (tmp_path / "toy" / "seed-1" / "error.txt").read_text()
    assert (tmp_path / "toy" / "seed-2" / "result.json").exists()
    assert main(["report", str(tmp_path)]) == 0  # the failure is read back from error.txt
    assert (
        "| `toy (seed 1)` | run failed: RuntimeError: seed one breaks |"
        in (tmp_path / "RESULTS.md").read_text()
    )


def test_interrupted_seed_runs_tell_how_to_resume(
    toy_paper, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reproduce", "toy", "--quick", "--out", str(tmp_path)]) == 0
    toy_paper.INTERRUPT_AT = 4
    assert main(["reproduce", "toy", "--out", str(tmp_path), "--seeds", "1"]) == 130
    assert f"landmarks reproduce toy --out {tmp_path} --resume --seeds 1" in capsys.readouterr().err
    toy_paper.INTERRUPT_AT = None
    assert main(["reproduce", "toy", "--out", str(tmp_path), "--resume", "--seeds", "1"]) == 0
    assert json.loads((tmp_path / "toy" / "seed-1" / "result.json").read_text())["seed"] == 1
