"""gpipe: the partition, the schedule's gradients (equal to the whole batch's, with and without
re-materialization), the memory re-materialization saves, the bubble formula, and a quick run
that spawns its own two processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from landmarks.cli import main
from landmarks.errors import UserInputError
from landmarks.nn.pipeline import GPipeStage, activation_shapes, partition, split_micro_batches
from landmarks.papers import gpipe


@pytest.fixture
def one_process_group():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))


def test_partition_is_contiguous_balanced_and_refuses_too_many_stages():
    model = gpipe.make_model(gpipe.Config(layers=4, width=8), 0)  # 8 modules, 4 with parameters
    parts = partition(model, 2)
    assert [m for p in parts for m in p] == list(model)
    assert [sum(q.numel() for q in p.parameters()) for p in parts] == [144, 144]
    assert [type(m).__name__ for m in parts[1]] == ["Linear", "ReLU", "Linear", "ReLU"]
    assert len(partition(model, 8)) == 8 and all(len(p) == 1 for p in partition(model, 8))
    with pytest.raises(ValueError, match="cannot cut 8 layers into 9 stages"):
        partition(model, 9)


def test_micro_batches_must_divide_the_batch():
    assert [len(c) for c in split_micro_batches(torch.zeros(8, 2), 4)] == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="do not divide"):
        split_micro_batches(torch.zeros(8, 2), 3)


def test_bubble_formula():
    assert gpipe.bubble_fraction(2, 1) == 0.5
    assert gpipe.bubble_fraction(4, 8) == pytest.approx(3 / 11)


@pytest.mark.parametrize("remat", [False, True], ids=["stored", "rematerialized"])
def test_micro_batched_gradients_equal_the_whole_batch(one_process_group, remat):
    model, reference = _mlp(), _mlp()
    x, y = torch.randn(12, 6), torch.randn(12, 3)
    F.mse_loss(reference(x), y).backward()
    stage = GPipeStage(model, 0, 1, activation_shapes([model], x[:3]), rematerialize=remat)
    record = stage.step(x, y, F.mse_loss, 4)
    assert record.loss == pytest.approx(float(F.mse_loss(reference(x), y).detach()), rel=1e-5)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-6)
    assert [(kind, m) for kind, m, _, _ in record.events] == [
        *[("F", m) for m in range(4)],
        *[("B", m) for m in reversed(range(4))],
    ]


def test_rematerialization_holds_less_for_the_backward_pass(one_process_group):
    model = _mlp()
    x, y = torch.randn(16, 6), torch.randn(16, 3)
    shapes = activation_shapes([model], x[:4])
    stored = GPipeStage(model, 0, 1, shapes).step(x, y, F.mse_loss, 4).activation_bytes
    remat = GPipeStage(model, 0, 1, shapes, rematerialize=True).step(x, y, F.mse_loss, 4).activation_bytes
    # The input (16 × 6 float32, one storage for the four micro-batches), and what the loss keeps:
    # each micro-batch's output and target (4 × 3 float32 each). Nothing inside the stage.
    assert remat == 16 * 6 * 4 + 4 * 2 * (4 * 3 * 4)
    assert stored == remat + 4 * 2 * (4 * 32 * 4)  # and the two hidden activations of every micro-batch


def test_peak_with_rematerialization_adds_one_micro_batch_recomputed():
    # Stage 0 of the default run: 1 MiB per micro-batch input; 8 more held per micro-batch
    # without re-materialization. With it, the first backward holds the 4 inputs and one
    # micro-batch's 8 recomputed activations.
    mib = 1 << 20
    peaks = gpipe.peak_activation_bytes([36 * mib, 40 * mib], [4 * mib, 12 * mib], 4)
    assert peaks == {"without": [36 * mib, 40 * mib], "with": [12 * mib, 19 * mib]}
    # One micro-batch: nothing is saved, re-materialization recomputes everything at once.
    assert gpipe.peak_activation_bytes([9], [1], 1) == {"without": [9], "with": [9]}


def test_quick_run_spawns_its_stages(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("gpipe", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "gpipe" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert saved["claims"][0]["verdict"] == "reproduced"  # the synchronous update is exact at any size
    assert (tmp_path / "gpipe" / "schedule.png").exists()
    quick = gpipe.PRESETS["quick"]  # the threads each spawned stage really ran with
    assert saved["metrics"]["threads_per_process"] == gpipe._threads(quick, quick.stages)


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "gpipe", "--quick", "--set", "stages=5"]) == 2
    assert "needs at least as many layers" in capsys.readouterr().err
    assert main(["run", "gpipe", "--quick", "--set", "reference_micro_batches=3"]) == 2
    assert "do not divide the batch of 8" in capsys.readouterr().err


def test_torchrun_process_count_must_equal_stages():
    gpipe.check_stage_processes(4, 4)
    with pytest.raises(UserInputError, match="torchrun started 3 processes but gpipe runs stages=4") as e:
        gpipe.check_stage_processes(3, 4)
    assert "--nproc_per_node=4" in str(e.value) and "--set stages=3" in str(e.value)
