"""dilated-convolutions: the context module, its receptive fields, identity init, the dense task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from landmarks.cli import main
from landmarks.data.seed_regions import SeedRegions, mean_iou
from landmarks.nn.counting import count_params
from landmarks.papers import dilated_convolutions as dc


def test_table_1_receptive_fields_analytic_and_measured():
    assert dc.analytic_receptive_fields(dc.DILATIONS) == [3, 5, 9, 17, 33, 65, 67]
    module = dc.ContextModule(3)
    measured = [dc.measured_receptive_field(module, i) for i in range(1, 8)]
    assert measured == [3, 5, 9, 17, 33, 65, 67]
    flat = dc.ContextModule(3, (1,) * 7)
    assert [dc.measured_receptive_field(flat, i) for i in range(1, 8)] == [3, 5, 7, 9, 11, 13, 15]


def test_dilated_conv_is_eq_2():
    """(F ∗_d k)(p) = Σ_{s + d·t = p} F(s) k(t): a 3×3 kernel with taps d apart."""
    torch.manual_seed(0)
    x, k = torch.randn(1, 1, 11, 11), torch.randn(1, 1, 3, 3)
    d = 3
    out = F.conv2d(x, k, dilation=d)  # valid: (11 − 2d)²
    p = (4, 2)
    expected = sum(x[0, 0, p[0] + d * a, p[1] + d * b] * k[0, 0, a, b] for a in range(3) for b in range(3))
    torch.testing.assert_close(out[0, 0, p[0], p[1]], expected)


def test_identity_init_passes_nonnegative_scores_through():
    module = dc.ContextModule(5)
    scores = torch.rand(2, 5, 20, 20)
    torch.testing.assert_close(module(scores), scores)
    with pytest.raises(ValueError, match="init must be"):
        dc.ContextModule(5, init="zeros")


def test_both_stacks_have_the_same_parameters_and_keep_the_size():
    dilated, flat = dc.ContextModule(8), dc.ContextModule(8, (1,) * 7, "random")
    assert count_params(dilated) == count_params(flat) == 7 * (8 * 8 * 9 + 8) + 8 * 8 + 8
    x = torch.randn(2, 8, 33, 33)
    assert dilated(x).shape == flat(x).shape == x.shape


def test_seed_regions_label_each_pixel_by_its_nearest_seed():
    task = SeedRegions(size=16, classes=4, min_seeds=2, max_seeds=3)
    batch = task.sample(6, torch.Generator().manual_seed(0))
    assert batch.scores.shape == (6, 4, 16, 16) and batch.labels.shape == (6, 16, 16)
    for i in range(6):
        seeds = batch.scores[i].sum(0) > 0
        # on a seed's own pixels the evidence is the label, and the distance is small
        assert torch.equal(
            batch.scores[i].argmax(0)[seeds & (batch.distance[i] == 0)],
            batch.labels[i][seeds & (batch.distance[i] == 0)],
        )
        assert (batch.distance[i][seeds] <= 2**0.5 + 1e-6).all()
    again = task.sample(6, torch.Generator().manual_seed(0))
    assert torch.equal(again.labels, batch.labels)


def test_mean_iou():
    t = torch.tensor([0, 0, 1, 1])
    assert mean_iou(t, t, 3) == 1.0
    p = torch.tensor([0, 1, 1, 1])
    assert mean_iou(p, t, 3) == pytest.approx((1 / 2 + 2 / 3) / 2)  # class 2 absent: left out


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("dilated-convolutions", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "dilated-convolutions" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == len(dc.CARD.claims)
    assert saved["claims"][0]["measured"] == 0
    for name in ("receptive_field", "segmentations", "miou"):
        assert (tmp_path / "dilated-convolutions" / f"{name}.png").exists()


def test_bad_settings_exit_2(capsys):
    assert (
        main(["run", "dilated-convolutions", "--quick", "--set", "min_seeds=5", "--set", "max_seeds=2"]) == 2
    )
    assert "min_seeds <= max_seeds" in capsys.readouterr().err
