"""landmarks bench: a named benchmark runs and writes its JSON; bad names and paths exit 2.
Speeds are measured by the command, never asserted here."""

from __future__ import annotations

import json

from landmarks.bench import BENCHMARKS, Measurement, _print, timed
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


def test_vision_transformers_runs_at_the_toy_runs_sizes(tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "vision-transformers", "--repeats", "1", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert [r["what"].split(",")[-2].strip() for r in rows] == ["train step", "infer pass"] * 3
    whats = " ".join(r["what"] for r in rows)
    assert "on 32×32" in whats and "batch 128" in whats  # landmarks run vit
    # landmarks run latent-diffusion: 16×16 images and their 8×8×4 latents, batches of 64
    assert "pixels (16×16×3)" in whats and "latents (8×8×4)" in whats and "batch 64" in whats
    for r in rows:
        assert (r["a_label"], r["b_label"]) == ("fused", "explicit") and r["a_seconds"] > 0
        assert r["extra"]["images_per_second_explicit"] > 0 and r["extra"]["images_per_second_fused"] > 0
    assert "images/s:" in capsys.readouterr().out  # both rates, side by side


def test_optimizer_compares_fused_and_default_adamw_on_three_papers_models(tmp_path) -> None:
    from landmarks.engine.optim import fused_available

    out = tmp_path / "bench.json"
    assert main(["bench", "optimizer", "--repeats", "1", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    if not fused_available("cpu"):
        assert rows == []
        return
    assert [r["what"].split("'")[0] for r in rows] == ["latent-diffusion", "griffin", "scaling-laws"]
    assert all((r["a_label"], r["b_label"]) == ("fused", "default") and r["a_seconds"] > 0 for r in rows)


def test_the_table_shows_both_image_rates_of_a_vision_row(capsys) -> None:
    extra = {"images_per_second_channels_last": 400.0, "images_per_second_contiguous": 250.0}
    _print([Measurement("vision", "a net, train step", "channels-last", 0.16, "contiguous", 0.256, extra)])
    assert "images/s: 400 channels-last, 250 contiguous" in capsys.readouterr().out


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
