"""ann: the card's claims are well formed, the quick run writes its result and figures, and bad
settings exit 2. The index library is tested in tests/test_ann.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from landmarks.cli import main
from landmarks.papers import ann as paper


def test_card_and_presets():
    assert len(paper.CARD.claims) == 7
    for preset in paper.PRESETS.values():
        preset.validate()


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("ann", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "ann" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == 7
    for name in ("recall_vs_qps.png", "cost_and_collisions.png"):
        assert (tmp_path / "ann" / name).exists()
    metrics = saved["metrics"]
    assert metrics["ivfpq_bytes"]["float32_vectors"] == 16 * metrics["ivfpq_bytes"]["pq_codes"]
    if (
        metrics["hnswlib"] is not None
    ):  # installed: our recall beside hnswlib's at equal M, ef_construction, ef
        assert abs(metrics["hnswlib"]["ours_minus_hnswlib_recall"]) <= 0.02


@pytest.mark.parametrize(("setting", "message"), [("M=1", "M must be >= 2"), ("pq_m=5", "must divide dim")])
def test_bad_settings_exit_2(setting: str, message: str, capsys: pytest.CaptureFixture[str]):
    assert main(["run", "ann", "--quick", "--set", setting]) == 2
    assert message in capsys.readouterr().err
