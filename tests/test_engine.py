"""The training engine: resume gives the same numbers, NaN guard, checkpoints, DDP."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from landmarks.engine import CorruptCheckpoint, Run, TrainingDiverged, fit, load_checkpoint, save_checkpoint
from landmarks.engine.seeding import derive_seed
from landmarks.runner import run_paper


def _numbers(result: dict) -> dict:
    return {"metrics": result["metrics"], "claims": result["claims"]}


def test_uninterrupted_runs_are_identical(toy_paper, tmp_path: Path) -> None:
    a = run_paper("toy", out=tmp_path / "a", seed=3, show_progress=False)
    b = run_paper("toy", out=tmp_path / "b", seed=3, show_progress=False)
    c = run_paper("toy", out=tmp_path / "c", seed=4, show_progress=False)
    assert _numbers(a) == _numbers(b)
    assert _numbers(a) != _numbers(c)


@pytest.mark.parametrize("phase_step", [7, 30 + 11])  # inside phase a; inside phase b
def test_ctrl_c_then_resume_matches_uninterrupted(toy_paper, tmp_path: Path, phase_step: int) -> None:
    full = run_paper("toy", out=tmp_path / "full", seed=1, show_progress=False)
    # batch_fn counts steps per phase; phase b's step k is reached after phase a finished
    toy_paper.INTERRUPT_AT = phase_step % 30
    if phase_step >= 30:
        toy_paper.INTERRUPT_AT = None
        first = run_paper("toy", out=tmp_path / "cut", seed=1, show_progress=False)  # completes both
        ck = load_checkpoint(tmp_path / "cut" / "toy" / "checkpoints" / "b.pt")
        assert ck["done"]
        # throw phase b away and interrupt it midway on a fresh try
        (tmp_path / "cut" / "toy" / "checkpoints" / "b.pt").unlink()
        toy_paper.INTERRUPT_AT = phase_step - 30
        with pytest.raises(KeyboardInterrupt):
            run_paper("toy", out=tmp_path / "cut", seed=1, show_progress=False, resume=True)
        assert _numbers(first) == _numbers(full)
    else:
        with pytest.raises(KeyboardInterrupt):
            run_paper("toy", out=tmp_path / "cut", seed=1, show_progress=False)
    assert not load_checkpoint(
        tmp_path / "cut" / "toy" / "checkpoints" / ("b.pt" if phase_step >= 30 else "a.pt")
    )["done"]
    toy_paper.INTERRUPT_AT = None
    resumed = run_paper("toy", out=tmp_path / "cut", seed=1, show_progress=False, resume=True)
    assert _numbers(resumed) == _numbers(full)


def test_kill_then_resume_matches_uninterrupted(toy_paper, tmp_path: Path) -> None:
    """A kill leaves only the last periodic checkpoint; resuming from it loses nothing."""
    full = run_paper("toy", out=tmp_path / "full", seed=2, show_progress=False)
    toy_paper.CRASH_AT = 17
    with pytest.raises(SystemExit):
        run_paper("toy", out=tmp_path / "cut", seed=2, show_progress=False)
    toy_paper.CRASH_AT = None
    resumed = run_paper("toy", out=tmp_path / "cut", seed=2, show_progress=False, resume=True)
    assert _numbers(resumed) == _numbers(full)


def test_resume_with_other_config_is_refused(toy_paper, tmp_path: Path) -> None:
    toy_paper.INTERRUPT_AT = 5
    with pytest.raises(KeyboardInterrupt):
        run_paper("toy", out=tmp_path, seed=0, show_progress=False)
    toy_paper.INTERRUPT_AT = None
    with pytest.raises(CorruptCheckpoint, match="different configuration"):
        run_paper("toy", out=tmp_path, seed=0, show_progress=False, resume=True, overrides=["lr=0.01"])


def _run(tmp_path: Path) -> Run:
    return Run(paper="t", seed=0, device=torch.device("cpu"), out=tmp_path, show_progress=False)


def test_nan_guard_stops_with_a_clear_message(tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1e30)
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf).*learning rate"):
        fit(
            _run(tmp_path),
            "m",
            model,
            opt,
            steps=50,
            batch_fn=lambda s: torch.ones(4, 2) * 1e10,
            loss_fn=lambda m, x: (m(x) ** 2).mean(),
        )


def test_evaluations_record_training_seconds_without_their_own_time(tmp_path: Path) -> None:
    import time

    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def slow_eval(m: nn.Module) -> dict[str, float]:
        time.sleep(0.2)
        return {"x": 1.0}

    hist = fit(
        _run(tmp_path),
        "m",
        model,
        opt,
        steps=4,
        batch_fn=lambda s: torch.ones(4, 2),
        loss_fn=lambda m, x: (m(x) ** 2).mean(),
        eval_fn=slow_eval,
        eval_every=1,
    )
    seconds = [e["seconds"] for e in hist.evals]
    assert [e["step"] for e in hist.evals] == [1, 2, 3, 4]
    assert seconds == sorted(seconds) and seconds[-1] < 0.2  # four sleeps of 0.2 s are not counted
    assert hist.eval_seconds >= 0.8 and hist.seconds >= hist.eval_seconds


def test_extra_numbers_of_the_loss_are_kept_per_step(tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)

    def loss_fn(m: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return (m(x) ** 2).mean(), {"first": x[0, 0]}

    hist = fit(
        _run(tmp_path),
        "m",
        model,
        opt,
        steps=3,
        batch_fn=lambda s: torch.full((4, 2), float(s)),
        loss_fn=loss_fn,
    )
    assert hist.extra == {"first": [0.0, 1.0, 2.0]}
    assert type(hist).from_dict(hist.to_dict()) == hist


def test_stop_when_ends_training_at_the_evaluation_that_satisfies_it(tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    run = _run(tmp_path)
    hist = fit(
        run,
        "m",
        model,
        opt,
        steps=100,
        batch_fn=lambda s: torch.ones(4, 2),
        loss_fn=lambda m, x: (m(x) ** 2).mean(),
        eval_fn=lambda m: {"zero": 0.0},
        eval_every=5,
        stop_when=lambda e: e["step"] >= 15,
    )
    assert hist.step[-1] == 15 and [e["step"] for e in hist.evals] == [5, 10, 15]
    assert load_checkpoint(run.checkpoint_path("m"))["done"]


def test_corrupt_checkpoint_gives_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptCheckpoint, match="cannot be read"):
        load_checkpoint(bad)


class _Evil:
    def __reduce__(self):  # would run code if unpickled
        return (print, ("pwned",))


def test_checkpoints_never_unpickle_arbitrary_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"step": 1, "payload": _Evil()}, path)
    with pytest.raises(CorruptCheckpoint):
        load_checkpoint(path)


def test_atomic_save_leaves_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)})
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_derive_seed_is_stable_and_distinct() -> None:
    assert derive_seed(0, "a", 1) == derive_seed(0, "a", 1)
    assert len({derive_seed(0, "a", i) for i in range(100)}) == 100
    assert derive_seed(0, "a") != derive_seed(1, "a")


def test_warmup_cosine_schedule() -> None:
    from landmarks.engine import warmup_cosine

    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, warmup=4, total=20)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.25) and lrs[3] == pytest.approx(1.0)
    decay = lrs[3:]
    assert all(a >= b for a, b in itertools.pairwise(decay))
    assert lrs[-1] < 0.05 and not any(math.isnan(x) for x in lrs)


# ---- DDP: a 2-process run with the same global batch matches the 1-process loss curve ----


def _ddp_worker(rank: int, world: int, init_file: str, out: str) -> None:
    import os

    import torch.distributed as dist

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        losses = _train_small(Path(out) / f"rank{rank}")
        if rank == 0:
            Path(out, "ddp.json").write_text(json.dumps(losses))
    finally:
        dist.destroy_process_group()


def _train_small(out: Path) -> list[float]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    data = [torch.randn(8, 6, generator=g, dtype=torch.float64) for _ in range(2)]
    run = Run(paper="ddp", seed=0, device=torch.device("cpu"), out=out, show_progress=False)
    hist = fit(
        run,
        "m",
        model,
        opt,
        steps=10,
        batch_fn=lambda s: (data[s % 2], data[s % 2].sum(1, keepdim=True).sin()),
        loss_fn=lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]),
    )
    return hist.loss


def test_two_process_ddp_matches_one_process(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    single = _train_small(tmp_path / "single")
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    double = json.loads((tmp_path / "ddp.json").read_text())
    assert double == pytest.approx(single, abs=1e-10)
    assert single[-1] < single[0]


def _shard_worker(rank: int, world: int, init_file: str, out: str) -> None:
    import os
    from typing import NamedTuple

    import torch.distributed as dist

    from landmarks.engine import distributed

    class Batch(NamedTuple):
        x: torch.Tensor
        y: torch.Tensor

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        part = distributed.shard(Batch(torch.arange(4), torch.arange(4) * 10))
        Path(out, f"shard{rank}.json").write_text(
            json.dumps([type(part).__name__, part.x.tolist(), part.y.tolist()])
        )
    finally:
        dist.destroy_process_group()


def test_named_tuple_batches_keep_their_type_when_sharded(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_shard_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    assert json.loads((tmp_path / "shard0.json").read_text()) == ["Batch", [0, 1], [0, 10]]
    assert json.loads((tmp_path / "shard1.json").read_text()) == ["Batch", [2, 3], [20, 30]]


def test_decay_groups_skip_vectors_and_the_named_tokens():
    from landmarks.engine import decay_groups
    from landmarks.nn.vit import VisionTransformer, ViTConfig

    model = VisionTransformer(
        ViTConfig(image_size=16, patch_size=4, d_model=16, depth=1, n_head=2, registers=2)
    )
    decay, rest = decay_groups(model, 0.1, VisionTransformer.no_weight_decay_names)
    assert decay["weight_decay"] == 0.1 and rest["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"])
    for token in (model.pos_embed, model.cls_token, model.reg_token):
        assert any(p is token for p in rest["params"]) and not any(p is token for p in decay["params"])
    plain, _ = decay_groups(model, 0.1)  # without names: only the 1-d tensors are spared
    assert any(p is model.pos_embed for p in plain["params"])


def test_top1_accuracy_counts_in_chunks_without_gradients():
    from landmarks.engine import top1_accuracy

    x = torch.eye(7)  # logits = x: sample i's top class is i
    y = torch.tensor([0, 1, 2, 0, 4, 0, 6])
    model = torch.nn.Identity()
    assert top1_accuracy(model, x, y, chunk=3) == top1_accuracy(model, x, y) == pytest.approx(5 / 7)
    w = torch.nn.Linear(7, 7)
    with torch.enable_grad():
        assert top1_accuracy(w, x, y) >= 0 and w.weight.grad is None
