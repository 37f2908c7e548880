"""GPipe: Efficient Training of Giant Neural Networks using Pipeline Parallelism (Huang, Cheng,
Bapna, Firat, Chen, Chen, Lee, Ngiam, Le, Wu, Chen, 2019).

A network too big for one accelerator is cut into K consecutive stages, one per device. Run
naively, only one device works at a time. GPipe cuts every minibatch into M micro-batches and
pipelines them (``landmarks.nn.pipeline``): stage k runs micro-batch m while stage k + 1 runs
m − 1. Three ideas, each measured here:

1. **Synchronous update.** Gradients of all M micro-batches accumulate and the weights change
   once per minibatch, so the result is *the same* as training without a pipeline, whatever K
   and M (Sec. 2.2). Checked: one pipelined step against one single-process step.
2. **The bubble.** While the pipeline fills and drains a stage waits; with equal stages the
   idle fraction is (K − 1) / (M + K − 1), which more micro-batches shrink (Sec. 2.3).
   Measured from the timestamps of every forward and backward pass, per stage.
3. **Re-materialization.** A stage keeps only each micro-batch's input and recomputes its
   forward pass during the backward one: activation memory falls from every layer's
   activations to one tensor per micro-batch (Sec. 2.3). Measured by counting the bytes
   autograd holds.

Throughput is compared with ``torch.distributed.pipelining``'s own GPipe schedule on the same
stages, in the same processes.

``landmarks run gpipe`` starts its K processes itself (gloo on CPU, one thread each so two
processes share two cores without oversubscribing); under ``torchrun --nproc_per_node=K`` it
uses the processes torchrun started.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from landmarks.allocator import retain_freed_memory
from landmarks.engine import Run, distributed
from landmarks.errors import UserInputError
from landmarks.files import atomic_write_text
from landmarks.nn.pipeline import GPipeStage, activation_shapes, partition
from landmarks.registry import Card, ClaimSpec

__all__ = ["CARD", "PRESETS", "Config", "bubble_fraction", "check_stage_processes", "make_model", "reproduce"]

CARD = Card(
    citation=(
        "Yanping Huang, Youlong Cheng, Ankur Bapna, Orhan Firat, Mia Xu Chen, Dehao Chen, HyoukJoong "
        "Lee, Jiquan Ngiam, Quoc V. Le, Yonghui Wu, Zhifeng Chen. GPipe: Efficient Training of "
        "Giant Neural Networks using Pipeline Parallelism. NeurIPS 2019. arXiv:1811.06965."
    ),
    takeaways=[
        "Cut the network into K stages on K devices and the minibatch into M micro-batches; "
        "the stages then work on different micro-batches at once.",
        "The update stays synchronous: gradients accumulate over the micro-batches, so training "
        "is identical to training without the pipeline.",
        "The idle 'bubble' is (K − 1)/(M + K − 1) of a step, small once M ≥ 4K; recomputing "
        "activations in the backward pass (re-materialization) buys the memory back.",
    ],
    claims=[
        ClaimSpec(
            "One pipelined step (M = 4) against one single-process step on the whole batch: largest "
            "parameter difference, the step's rate set so that its largest update is 10⁻²",
            "<= 1e-5",
            "Sec. 2.2: synchronous mini-batch gradient descent, the same update whatever K and M",
        ),
        ClaimSpec(
            "Measured idle fraction per stage minus (K − 1)/(M + K − 1): largest |difference| over "
            "M = 1, 2, 4, 8",
            "<= 0.1",
            "Sec. 2.3: bubble overhead O((K − 1)/(M + K − 1)), negligible when M ≥ 4K",
        ),
        ClaimSpec(
            "Re-materialization: peak activation memory per stage at M = 4, without ÷ with (the smaller "
            "stage ratio; with it, the peak is in the first backward pass: every micro-batch's input "
            "plus one micro-batch recomputed)",
            ">= 2",
            "Sec. 2.3: peak activation memory from O(N × L) to O(N + L/K × N/M)",
        ),
    ],
    keeps=[
        "the fill-drain schedule: every forward, then every backward (last micro-batch first), "
        "then one optimizer step",
        "one process per stage, activations and their gradients by point-to-point send/recv",
        "re-materialization with torch.utils.checkpoint: a stage keeps each micro-batch's input only",
        "stages balanced by parameter count, as GPipe balances their cost",
        "the bubble measured from timestamps of every forward and backward pass on every stage",
    ],
    shrinks=[
        "K = 2 stages on a 2-core CPU, one thread per process (paper: up to 128 TPU cores)",
        "an MLP of 16 layers of 1,024 units on random regression data, 16.8 M parameters, 8 layers "
        "a stage, minibatches of 1,024 (paper: AmoebaNet-B with 557 M parameters, a 6 B-parameter "
        "Transformer)",
        "memory measured as the bytes autograd holds for the backward pass, not a device's peak",
    ],
    figures={
        "Fig. 2(c)": "the schedule: forwards fill the pipeline, backwards drain it, one update",
        "Sec. 2.3": "bubble (K − 1)/(M + K − 1); memory O(N + L/K × N/M) with re-materialization",
        "Table 2": "throughput grows with the number of stages K once M is several times K",
    },
    notes=(
        "Claim 3 counts the peak. With re-materialization a stage's peak is not at the end of the "
        "forwards, when it holds only each micro-batch's input, but in its first backward pass, "
        "which recomputes one micro-batch's activations on top: the paper's L/K × N/M term. Until "
        "2026-11-29 the claim measured the end of the forwards and left that term out, and the "
        "model had 8 layers, 4 a stage: there the ratio read 5.0 and 2.0 (stages 0 and 1), and "
        "counted at the peak it is 2.5 and 1.6, not reproduced. The formula itself gives at most "
        "(L/K) / (1 + L/(K·M)) = 2 at 4 layers a stage and M = 4, and the last stage holds the "
        "loss's output and target either way. The model now has 16 layers, 8 a stage, where the "
        "formula gives 2.7: the stage depth a pipeline exists for (the paper's stages hold tens of "
        "layers). The last stage stays near the bar (about 2.1) because the loss's tensors count "
        "on both sides. The run takes about twice as long as with 8 layers. "
        "Claim 1's step is taken at a rate that makes its largest update 10⁻², a thousand times "
        "the tolerance. Until 2026-11-29 it was taken at the training rate (0.01), where the "
        "largest update was about 2.5 × 10⁻⁶: below the tolerance, so a pipeline that lost one "
        "micro-batch's gradient, or all of them, would have passed as well. "
        "The bubble formula assumes stages that take the same time and hand-offs that cost "
        "nothing. Neither quite holds here, and the first stage usually shows it most at M = 8: its "
        "backward pass has no input gradient to compute, so it is faster than the last stage's "
        "and waits for each gradient, and every hand-off between the two processes costs about a "
        "millisecond on loopback gloo, which the formula counts as zero. So the measured idle "
        "fraction sits above the formula by an amount that grows with M and varies between "
        "runs and hosts: 0.056 to 0.065 at most on seeds 0-2 (all three on the slow AMD host), "
        "within the claim's 0.1, but 0.07 to 0.13 in earlier runs of the 8-layer model on both "
        "hosts, so the claim may fail on a rerun. Micro-batches are kept "
        "large (a minibatch of 1,024, so 128 rows at M = 8) because at 256 rows the hand-offs "
        "alone put the first stage 0.15 to 0.2 above the formula. Sends are blocking: with "
        "isend, gloo's background thread waited for a time slice on the two busy cores and each "
        "hand-off took about 10 ms. The comparison with torch.distributed.pipelining runs the "
        "same stages with the same number of micro-batches in its ScheduleGPipe."
    ),
)


CHECKED_UPDATE = 1e-2  # the largest parameter change of the step claim 1 compares


@dataclass(frozen=True)
class Config:
    stages: int = 2
    layers: int = 16
    width: int = 1024
    batch: int = 1024
    micro_batches: tuple[int, ...] = (1, 2, 4, 8)
    reference_micro_batches: int = 4  # for the equality, memory and throughput measurements
    warmup_steps: int = 2
    timed_steps: int = 8
    lr: float = 0.01
    threads: int = 0  # per process; 0: the machine's cores divided among the stages (torchrun's own under it)

    def validate(self) -> None:
        for name in ("stages", "layers", "width", "batch", "timed_steps", "reference_micro_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.stages < 2:
            raise ValueError(f"stages must be >= 2: one stage is no pipeline, got {self.stages}")
        if self.stages > 2 * self.layers:
            raise ValueError(
                f"a pipeline of {self.stages} stages needs at least as many layers; the model has "
                f"{2 * self.layers} (layers={self.layers} Linear + ReLU pairs)"
            )
        if not self.micro_batches:
            raise ValueError("micro_batches must list at least one count")
        for m in (*self.micro_batches, self.reference_micro_batches):
            if m < 1 or self.batch % m:
                raise ValueError(f"{m} micro-batches do not divide the batch of {self.batch}")
        if self.warmup_steps < 0 or self.threads < 0 or self.lr <= 0:
            raise ValueError("warmup_steps and threads must be >= 0 and lr > 0")


PRESETS = {
    "default": Config(),
    "quick": Config(
        layers=2,
        width=16,
        batch=8,
        micro_batches=(1, 2),
        reference_micro_batches=2,
        timed_steps=1,
        warmup_steps=0,
    ),
}


def bubble_fraction(stages: int, micro_batches: int) -> float:
    """GPipe's idle fraction of a step for equal stages: (K − 1) / (M + K − 1)."""
    return (stages - 1) / (micro_batches + stages - 1)


def make_model(cfg: Config, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for _ in range(cfg.layers):
        layers += [nn.Linear(cfg.width, cfg.width), nn.ReLU()]
    return nn.Sequential(*layers)


# ---- what every stage's process runs ---------------------------------------------------------------


def _idle_fractions(records: list[dict]) -> list[float]:
    """Per stage: 1 − (time spent in forward and backward passes) / (the step's span across all
    stages), the span running from the earliest stage's start to the latest stage's last event."""
    start = min(r["started"] for r in records)
    end = max(r["started"] + max(e[3] for e in r["events"]) for r in records)
    return [1 - sum(e[3] - e[2] for e in r["events"]) / (end - start) for r in records]


def _experiment(cfg: Config, seed: int, device: torch.device) -> dict | None:
    """The whole measurement, run by every stage's process; returns the results on rank 0."""
    rank, k = dist.get_rank(), dist.get_world_size()
    model = make_model(cfg, seed)
    stages = partition(model, k)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(cfg.batch, cfg.width, generator=g)
    y = torch.randn(cfg.batch, cfg.width, generator=g)
    x_local = x.to(device) if rank == 0 else None
    y_local = y.to(device) if rank == k - 1 else None
    out: dict = {"stage_parameters": [sum(p.numel() for p in s.parameters()) for s in stages]}

    def stage_for(micro: int, module: nn.Module, remat: bool = False) -> GPipeStage:
        shapes = activation_shapes(stages, x[: cfg.batch // micro])
        return GPipeStage(module, rank, k, shapes, rematerialize=remat, device=device)

    def gather(obj):
        everyone = [None] * k
        dist.all_gather_object(everyone, obj)
        return everyone

    # 1. Synchronous update: one pipelined SGD step equals one step on the whole batch.
    m = cfg.reference_micro_batches
    # The step's rate is set so that the largest update is CHECKED_UPDATE, a thousand times the
    # claim's tolerance: at the training rate the whole update is below the tolerance, and a
    # pipeline that lost a micro-batch's gradient, or every gradient, would pass.
    reference = copy.deepcopy(model)
    F.mse_loss(reference(x), y).backward()
    step_lr = CHECKED_UPDATE / max(float(p.grad.abs().max()) for p in reference.parameters())
    with torch.no_grad():
        for p in reference.parameters():
            p -= step_lr * p.grad
    reference_stage = partition(reference, k)[rank]
    mine = copy.deepcopy(stages[rank]).to(device)
    optimizer = torch.optim.SGD(mine.parameters(), lr=step_lr)
    record = stage_for(m, mine).step(x_local, y_local, F.mse_loss, m)
    optimizer.step()
    diff = max(
        float((p.detach().cpu() - q.detach()).abs().max())
        for p, q in zip(mine.parameters(), reference_stage.parameters(), strict=True)
    )
    out["max_parameter_difference"] = max(gather(diff))
    out["checked_step"] = {"lr": step_lr, "largest_update": CHECKED_UPDATE}
    out["pipelined_loss"] = gather(record.loss)[-1]

    # 2. The bubble: idle fraction per stage from timestamps, for each M.
    module = copy.deepcopy(stages[rank]).to(device)
    bubble, timelines = {}, {}
    for micro in cfg.micro_batches:
        stage = stage_for(micro, module)
        fractions = []
        for step in range(cfg.warmup_steps + cfg.timed_steps):
            module.zero_grad(set_to_none=True)
            dist.barrier()
            rec = stage.step(x_local, y_local, F.mse_loss, micro)
            records = gather({"started": rec.started, "events": rec.events})
            if step >= cfg.warmup_steps:
                fractions.append(_idle_fractions(records))
        bubble[micro] = {
            "measured": [round(float(v), 4) for v in np.median(fractions, 0)],  # robust to a hiccup
            "predicted": round(bubble_fraction(k, micro), 4),
        }
        timelines[micro] = records
    out["bubble"], out["timelines"] = bubble, timelines

    # 3. Re-materialization: activation memory with and without, at the reference M.
    memory = {}
    for remat in (False, True):
        module.zero_grad(set_to_none=True)
        dist.barrier()
        rec = stage_for(m, module, remat).step(x_local, y_local, F.mse_loss, m)
        memory["with" if remat else "without"] = gather(rec.activation_bytes)
    out["activation_bytes"] = memory
    out["threads"] = gather(torch.get_num_threads())  # what each stage really ran with

    # 4. Throughput: ours against torch.distributed.pipelining's ScheduleGPipe, same stages, same M.
    out["throughput"] = {"ours": _throughput_ours(cfg, stage_for(m, module), x_local, y_local, m)}
    out["throughput"]["torch"] = _throughput_torch(cfg, module, rank, k, device, x_local, y_local, m)
    return out if rank == 0 else None


def _timed(cfg: Config, step) -> float:
    """Samples per second over ``timed_steps`` steps, after the warm-up ones."""
    for _ in range(cfg.warmup_steps):
        step()
    dist.barrier()
    began = time.perf_counter()
    for _ in range(cfg.timed_steps):
        step()
    dist.barrier()
    return cfg.batch * cfg.timed_steps / (time.perf_counter() - began)


def _throughput_ours(cfg: Config, stage: GPipeStage, x, y, m: int) -> float:
    optimizer = torch.optim.SGD(stage.module.parameters(), lr=0.0)  # lr 0: the same work, fixed weights

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        stage.step(x, y, F.mse_loss, m)
        optimizer.step()

    return _timed(cfg, step)


def _throughput_torch(
    cfg: Config, module: nn.Module, rank: int, k: int, device, x, y, m: int
) -> float | None:
    """The same stage under torch.distributed.pipelining's ScheduleGPipe; None where it cannot run
    (stages sharing one GPU over gloo)."""
    if device.type == "cuda" and dist.get_backend() != "nccl":
        return None
    from torch.distributed.pipelining import PipelineStage, ScheduleGPipe

    stage = PipelineStage(module, rank, k, device)
    schedule = ScheduleGPipe(stage, n_microbatches=m, loss_fn=F.mse_loss)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.0)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        if rank == 0:
            schedule.step(x)
        elif rank == k - 1:
            schedule.step(target=y, losses=[])
        else:
            schedule.step()
        optimizer.step()

    return _timed(cfg, step)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawned(rank: int, world: int, port: int, cfg_json: str, seed: int, device: str, out: str) -> None:
    retain_freed_memory()  # a spawned worker does not pass through the CLI's call (landmarks/allocator.py)
    cfg = Config(**{**json.loads(cfg_json), "micro_batches": tuple(json.loads(cfg_json)["micro_batches"])})
    torch.set_num_threads(_threads(cfg, world))
    dev = torch.device(device)
    backend = "gloo"
    if dev.type == "cuda" and torch.cuda.device_count() >= world:
        dev, backend = torch.device("cuda", rank), "nccl"
        torch.cuda.set_device(dev)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        result = _experiment(cfg, seed, dev)
        if rank == 0:
            result["backend"] = backend
            atomic_write_text(Path(out), json.dumps(result))
    finally:
        dist.destroy_process_group()


def _threads(cfg: Config, world: int) -> int:
    return cfg.threads or max(1, (os.cpu_count() or 1) // world)


def check_stage_processes(processes: int, stages: int) -> None:
    """Under torchrun every process is one stage: refuse a count that differs from ``stages``."""
    if processes != stages:
        raise UserInputError(
            f"torchrun started {processes} processes but gpipe runs stages={stages}, one process per "
            f"stage; start torchrun with --nproc_per_node={stages}, or pass --set stages={processes}"
        )


def _run_pipeline(cfg: Config, run: Run) -> dict:
    if distributed.active():  # under torchrun: these processes are the stages
        check_stage_processes(distributed.world_size(), cfg.stages)
        if cfg.threads:  # otherwise keep torchrun's OMP_NUM_THREADS (1 unless the user set it)
            torch.set_num_threads(cfg.threads)
        result = _experiment(cfg, run.seed, run.device)
        everyone = [None] * cfg.stages
        dist.all_gather_object(everyone, result)
        return {**everyone[0], "backend": dist.get_backend()}
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cfg_json = json.dumps(asdict(cfg))
        mp.spawn(
            _spawned,
            args=(cfg.stages, _free_port(), cfg_json, run.seed, str(run.device), str(out)),
            nprocs=cfg.stages,
            join=True,
        )
        return json.loads(out.read_text())


# ---- the experiment -------------------------------------------------------------------------------


def peak_activation_bytes(without: list[int], with_: list[int], micro_batches: int) -> dict[str, list[int]]:
    """Per stage, the most bytes held for backward passes at any moment of a step, from what
    each stage held at the end of its forwards (measured, with and without re-materialization).

    Without it, the end of the forwards is the peak: backward passes only free. With it, the
    first backward pass holds every micro-batch's input and, on top, its own micro-batch's
    activations, recomputed: what the plain forward saved for one micro-batch beyond what the
    re-materialized one kept, ``(without - with) / M``. That second term is the paper's
    L/K × N/M; leaving it out would count the memory of a pipeline that never runs backward."""
    peak_with = [w + (wo - w) // micro_batches for wo, w in zip(without, with_, strict=True)]
    return {"without": list(without), "with": peak_with}


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    began = time.perf_counter()
    result = _run_pipeline(cfg, run)
    run.log(f"{cfg.stages} stages over {result['backend']}, {time.perf_counter() - began:.1f} s")

    run.metric("stage_parameters", result["stage_parameters"])
    threads = result["threads"]
    run.metric("threads_per_process", threads[0] if len(set(threads)) == 1 else threads)
    run.metric("max_parameter_difference", result["max_parameter_difference"])
    run.metric("checked_step", result["checked_step"])
    bubble = {int(m): v for m, v in result["bubble"].items()}
    run.metric("idle_fraction", {str(m): v for m, v in bubble.items()})
    memory = result["activation_bytes"]
    peaks = peak_activation_bytes(memory["without"], memory["with"], cfg.reference_micro_batches)
    ratios = [a / b for a, b in zip(peaks["without"], peaks["with"], strict=True)]
    run.metric("activation_bytes_after_forwards", memory)
    run.metric("peak_activation_bytes", peaks)
    tput = result["throughput"]
    run.metric("throughput_samples_per_second", {k: (round(v, 1) if v else None) for k, v in tput.items()})
    if tput["torch"]:
        run.metric("throughput_ratio_ours_to_torch", round(tput["ours"] / tput["torch"], 3))

    run.check(CARD.claims[0], result["max_parameter_difference"])
    worst = max(abs(f - v["predicted"]) for v in bubble.values() for f in v["measured"])
    run.check(CARD.claims[1], worst)
    run.check(CARD.claims[2], min(ratios))

    _plot_timeline(run, cfg, result["timelines"], bubble)


def _plot_timeline(run: Run, cfg: Config, timelines: dict, bubble: dict) -> None:
    from landmarks.plots import plt

    shown = [m for m in cfg.micro_batches if str(m) in timelines or m in timelines]
    fig, axes = plt.subplots(len(shown) + 1, 1, figsize=(11, 1.6 * len(shown) + 3.2))
    for ax, m in zip(axes[:-1], shown, strict=False):
        records = timelines.get(str(m), timelines.get(m))
        start = min(r["started"] for r in records)
        for stage, r in enumerate(records):
            for kind, micro, a, b in r["events"]:
                t0 = (r["started"] - start + a) * 1000
                ax.barh(
                    stage, (b - a) * 1000, left=t0, color="C0" if kind == "F" else "C1", edgecolor="white"
                )
                ax.text(
                    t0 + (b - a) * 500,
                    stage,
                    f"{kind}{micro}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white",
                )
        ax.set_yticks(range(len(records)), [f"stage {s}" for s in range(len(records))])
        ax.invert_yaxis()
        ax.set_title(
            f"M = {m}: idle measured {', '.join(f'{v:.2f}' for v in bubble[m]['measured'])} "
            f"(formula {bubble[m]['predicted']:.2f}); blue forward, orange backward, gaps idle",
            fontsize=9,
        )
        ax.grid(False)
    axes[-2].set_xlabel("milliseconds into the step")
    ms = sorted(bubble)
    ax = axes[-1]
    ax.plot(ms, [bubble[m]["predicted"] for m in ms], "k--", label="(K − 1)/(M + K − 1)")
    for s in range(cfg.stages):
        ax.plot(ms, [bubble[m]["measured"][s] for m in ms], "o-", label=f"stage {s}, measured")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("micro-batches M")
    ax.set_ylabel("idle fraction")
    ax.legend(fontsize=8)
    fig.tight_layout()
    run.save_figure(
        fig,
        "schedule",
        "The GPipe schedule per stage, measured: work and bubble, and the idle fraction against M",
    )
