"""ntm: the copy task, the machine's shapes and gradients, a quick run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from landmarks.cli import main
from landmarks.papers import ntm


def test_copy_task_layout():
    x, y = ntm.copy_task_batch(torch.Generator().manual_seed(0), 4, 5, 8)
    assert x.shape == (4, 11, 9) and y.shape == (4, 5, 8)
    assert torch.equal(x[:, :5, :8], y)
    assert torch.all(x[:, 5, 8] == 1) and torch.all(x[:, :5, 8] == 0) and torch.all(x[:, 6:] == 0)


def test_bit_errors_count_wrong_bits():
    y = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    logits = torch.tensor([[[3.0, -1.0], [2.0, -2.0]]])  # the second vector is wrong twice
    assert torch.equal(ntm.bit_errors(logits, y), torch.tensor([2.0]))


def test_machine_shapes_weightings_and_gradients():
    torch.manual_seed(0)
    machine = ntm.NeuralTuringMachine(9, 8, rows=12, width=6, controller=16)
    x, y = ntm.copy_task_batch(torch.Generator().manual_seed(1), 3, 4, 8)
    logits, weightings = machine(x, record=True)
    assert logits.shape == (3, 9, 8)
    for w in weightings.values():
        assert w.shape == (3, 9, 12)
        assert torch.allclose(w.sum(-1), torch.ones(3, 9), atol=1e-5)
    torch.nn.functional.binary_cross_entropy_with_logits(logits[:, -4:], y).backward()
    for name, p in machine.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert torch.equal(machine(x), logits)  # recording changes nothing


def test_each_sequence_is_processed_independently():
    torch.manual_seed(0)
    machine = ntm.NeuralTuringMachine(9, 8, rows=10, width=5, controller=12)
    x, _ = ntm.copy_task_batch(torch.Generator().manual_seed(2), 4, 3, 8)
    together = machine(x)
    alone = torch.cat([machine(x[i : i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-6)


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("ntm", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "ntm" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    for name in ("heads", "copy_error"):
        assert (tmp_path / "ntm" / f"{name}.png").exists()
    # claim 2 (generalizing the copy) has a number only where claim 1 finds the copy learned
    copies, generalizes = saved["claims"]
    if copies["verdict"] != "reproduced":
        assert generalizes["measured"] is None or math.isnan(generalizes["measured"])
        assert generalizes["verdict"] == "not reproduced"
    assert "bits_at_test_length_ntm_minus_lstm" in saved["metrics"]
    for a in saved["metrics"]["attempts"].values():
        assert set(a) == {"ran", "kept", "validation_bits", "slips"}
        assert len(a["validation_bits"]) == a["ran"] == len(a["slips"]) and 1 <= a["kept"] <= a["ran"]
        assert a["validation_bits"][a["kept"] - 1] == min(a["validation_bits"])
        # each attempt's slips are the validation sequences behind its mean, worst first
        for bits, slip in zip(a["validation_bits"], a["slips"], strict=True):
            worst = [b for _, b in slip["worst"]]
            assert worst == sorted(worst, reverse=True) and all(b > 0 for b in worst)
            assert len(worst) == min(3, slip["sequences_wrong"])
            assert (slip["sequences_wrong"] == 0) == (bits == 0)
            assert sum(worst) <= bits * saved["config"]["test_size"] + 1e-9


def test_bad_settings_exit_2(capsys):
    assert main(["run", "ntm", "--quick", "--set", "memory_rows=0"]) == 2
    assert "memory of size 0" in capsys.readouterr().err
    assert main(["run", "ntm", "--quick", "--set", "min_length=5", "--set", "max_length=2"]) == 2
