"""scaling-laws: the power-law fit recovers a known law and its interval, tokens-to-loss
interpolation, the frontier, the sweep runner (resume loads finished points, never retrains
them), and a quick run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landmarks.cli import main
from landmarks.engine import Run
from landmarks.engine.sweep import SweepPoint, run_sweep
from landmarks.papers import scaling_laws as sl


def test_fit_recovers_a_known_power_law():
    n = np.geomspace(1e3, 1e6, 7)
    law = sl.fit_power_law(n, (8.8e13 / n) ** 0.076)
    assert law.alpha == pytest.approx(0.076, abs=1e-9)
    assert law.x_c == pytest.approx(8.8e13, rel=1e-6)
    assert law.r2 == pytest.approx(1.0)
    noisy = (8.8e13 / n) ** 0.076 * np.exp(np.random.default_rng(0).normal(0, 0.01, len(n)))
    fitted = sl.fit_power_law(n, noisy)
    assert fitted.alpha_low < 0.076 < fitted.alpha_high and fitted.r2 < 1
    with pytest.raises(ValueError, match="two distinct"):
        sl.fit_power_law([5.0, 5.0], [1.0, 2.0])


def test_tokens_to_reach_interpolates_on_log_axes():
    tokens, losses = [100.0, 200.0, 400.0], [4.0, 2.0, 1.0]  # a power law of exponent 1
    assert sl.tokens_to_reach(tokens, losses, 2.0) == pytest.approx(200.0)
    assert sl.tokens_to_reach(tokens, losses, 2**0.5) == pytest.approx(200 * 2**0.5)
    assert sl.tokens_to_reach(tokens, losses, 5.0) == 100.0
    assert sl.tokens_to_reach(tokens, losses, 0.5) == float("inf")


def test_frontier_is_the_lower_envelope():
    curves = [
        {"n": 1, "tokens": [1, 2, 4], "val_loss": [3.0, 2.0, 1.5]},
        {"n": 4, "tokens": [1, 2], "val_loss": [2.5, 1.0]},
    ]
    compute, loss = sl._frontier(curves)
    assert compute == [6, 12, 24, 48] and loss == [3.0, 2.0, 1.5, 1.0]


def test_sweep_loads_finished_points_on_resume(tmp_path: Path):
    trained: list[str] = []

    def train(point: SweepPoint) -> dict:
        trained.append(point.name)
        return {"loss": point.settings["x"] * 2}

    points = [SweepPoint("a", {"x": 1}), SweepPoint("b", {"x": 2})]
    first = run_sweep(Run(paper="toy", out=tmp_path, seed=0, device=torch.device("cpu")), points, train)
    assert first == {"a": {"loss": 2}, "b": {"loss": 4}} and trained == ["a", "b"]
    again = run_sweep(
        Run(paper="toy", out=tmp_path, seed=0, device=torch.device("cpu"), resume=True),
        [*points, SweepPoint("c", {"x": 3})],
        train,
    )
    assert trained == ["a", "b", "c"] and again["c"] == {"loss": 6}
    changed = run_sweep(
        Run(paper="toy", out=tmp_path, seed=0, device=torch.device("cpu"), resume=True),
        [SweepPoint("a", {"x": 5})],
        train,
    )
    assert trained[-1] == "a" and changed["a"] == {"loss": 10}  # other settings: trained again
    with pytest.raises(ValueError, match="empty"):
        run_sweep(Run(paper="toy", out=tmp_path, seed=0, device=torch.device("cpu")), [], train)
    with pytest.raises(ValueError, match="names"):
        run_sweep(
            Run(paper="toy", out=tmp_path, seed=0, device=torch.device("cpu")), [SweepPoint("../x")], train
        )


def test_quick_run_writes_result_and_figures(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("scaling-laws", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "scaling-laws" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert set(saved["metrics"]["alpha_N"]) == {"measured", "interval_95", "r2", "paper"}
    assert len(list((tmp_path / "scaling-laws" / "sweep").glob("*.json"))) == 3  # 2 sizes + 1 data budget
    for figure in ("laws.png", "learning_curves.png"):
        assert (tmp_path / "scaling-laws" / figure).exists()


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "scaling-laws", "--quick", "--set", "layers=", "--set", "widths="]) == 2
    assert "grid needs at least two sizes" in capsys.readouterr().err
    assert main(["run", "scaling-laws", "--quick", "--set", "widths=12,16"]) == 2
    assert "multiple of head_width" in capsys.readouterr().err
    assert main(["run", "scaling-laws", "--quick", "--set", "layers=1,2,3"]) == 2
    assert "as long as each other" in capsys.readouterr().err
