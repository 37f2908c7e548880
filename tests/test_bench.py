"""landmarks bench: a named benchmark runs and writes its JSON; bad names and paths exit 2.
Speeds are measured by the command, never asserted here."""

from __future__ import annotations

import json

from landmarks.bench import BENCHMARKS, Measurement, timed
from landmarks.cli import main


def test_a_benchmark_runs_and_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "attention", "--repeats", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["threads"] >= 1 and data["torch"]
    (row,) = data["results"]
    assert row["benchmark"] == "attention" and row["a_label"] == "fused" and row["b_label"] == "explicit"
    assert row["a_seconds"] > 0 and row["ratio"] == row["b_seconds"] / row["a_seconds"]
    assert "attention" in capsys.readouterr().out


def test_unknown_benchmark_and_bad_arguments_exit_2(tmp_path, capsys) -> None:
    assert main(["bench", "atention", "--out", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "atention" in err and "attention" in err
    assert main(["bench", "attention", "--out", str(tmp_path)]) == 2  # a folder, not a file
    assert main(["bench", "attention", "--repeats", "0", "--out", str(tmp_path / "b.json")]) == 2
    assert not (tmp_path / "b.json").exists()


def test_the_issue_s_benchmarks_are_all_there() -> None:
    assert {
        "attention",
        "recurrent",
        "lm-training",
        "kv-cache",
        "transformer-vs-rnnsearch",
        "vision",
        "vision-transformers",
    } <= set(BENCHMARKS)


def test_timed_is_a_median_and_a_ratio_is_b_over_a() -> None:
    calls = []
    assert timed(lambda: calls.append(1), repeats=3, warmup=1) >= 0
    assert len(calls) == 4
    assert Measurement("x", "y", "a", 2.0, "b", 1.0).ratio == 0.5
