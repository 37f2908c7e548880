"""A small training loop, not a framework: one ``fit`` call trains one model.

Each step: fetch batch ``step`` (the batch function is seeded by its step number, so a
resumed run sees the same data), compute the loss, check it is finite, backpropagate, clip,
step the optimizer and schedule. Every ``checkpoint_seconds`` and on Ctrl-C the full state
(model, optimizer, schedule, RNG, history) is written atomically; ``--resume`` continues from
it to the same final numbers as an uninterrupted run. A finished ``fit`` leaves a "done"
checkpoint, so a resumed reproduction skips phases it already completed.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from landmarks.engine import distributed
from landmarks.engine.checkpoint import check_config, load_checkpoint, save_checkpoint
from landmarks.engine.run import Run

LossOutput = torch.Tensor | tuple[torch.Tensor, dict[str, float]]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; raised with a message a user can act on."""


@dataclass
class History:
    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)  # each has "step" and "seconds" keys
    extra: dict[str, list[float]] = field(default_factory=dict)  # loss_fn's extra numbers, per step
    seconds: float = 0.0  # wall-clock of the whole run, evaluations included
    eval_seconds: float = 0.0  # of which spent in eval_fn

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**d)

    def final_loss(self, window: int = 10) -> float:
        """Mean training loss over the last ``window`` steps (less noisy than the last one)."""
        tail = self.loss[-window:]
        return sum(tail) / len(tail) if tail else float("nan")


def decay_groups(model: nn.Module, weight_decay: float, no_decay_names: tuple[str, ...] = ()) -> list[dict]:
    """AdamW parameter groups: weight decay on weight matrices and kernels (≥ 2-d) only; none on
    biases, norms and layer scales (1-d), nor on the parameters named in ``no_decay_names`` (a
    ViT's positions and class and register tokens, as DeiT and timm leave them)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or name in no_decay_names else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def top1_accuracy(model: nn.Module, x: Tensor, y: Tensor, chunk: int = 500) -> float:
    """The share of ``x`` whose highest logit is its label ``y``, in chunks of ``chunk`` images,
    without gradients. The model's train/eval mode is the caller's to set."""
    hits = sum(
        int((model(x[i : i + chunk]).argmax(1) == y[i : i + chunk]).sum()) for i in range(0, len(y), chunk)
    )
    return hits / len(y)


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup: int, total: int, floor: float = 0.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up for ``warmup`` steps, then cosine decay to ``floor`` × the base rate."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fit(
    run: Run,
    name: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    batch_fn: Callable[[int], Any],
    loss_fn: Callable[[nn.Module, Any], LossOutput],
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    clip_norm: float | None = None,
    eval_fn: Callable[[nn.Module], dict[str, float]] | None = None,
    eval_every: int = 0,
    checkpoint_seconds: float = 30.0,
    stop_when: Callable[[dict[str, float]], bool] | None = None,
) -> History:
    """Train ``model`` for ``steps`` steps and return its history.

    ``batch_fn(step)`` returns the *global* batch for that step (tensors or tuples/dicts of
    tensors, already on the device); under torchrun each process keeps its own slice.
    ``loss_fn(model, batch)`` returns the mean loss, or ``(loss, extra_numbers)``.
    ``stop_when(evaluation)``, if given, ends training early when it returns True for the
    numbers ``eval_fn`` just returned (a task solved on held-out data, say); ``steps`` is then
    the most the model trains.
    """
    path = run.checkpoint_path(name)
    fingerprint = run.config_fingerprint()
    history, start = History(), 0

    if run.resume and path.exists():
        state = load_checkpoint(path)
        check_config(path, state.get("config"), fingerprint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        history = History.from_dict(state["history"])
        start = int(state["step"])
        _restore_rng(state["rng"])
        if state.get("done"):
            run.log(f"{name}: already trained ({start} steps), loaded from checkpoint")
            return history
        run.log(f"{name}: resuming at step {start}/{steps}")

    def checkpoint(step: int, done: bool) -> None:
        if distributed.is_main():
            save_checkpoint(
                path,
                {
                    "step": step,
                    "done": done,
                    "config": fingerprint,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "history": history.to_dict(),
                    "rng": _capture_rng(),
                },
            )
        distributed.barrier()

    net = distributed.wrap(model)
    net.train()
    bar = run.progress(total=steps, initial=start, desc=name, unit="step")
    began = time.perf_counter() - history.seconds
    last_save = time.perf_counter()
    step = start
    try:
        while step < steps:
            batch = distributed.shard(batch_fn(step))
            out = loss_fn(net, batch)
            loss, extra = out if isinstance(out, tuple) else (out, {})
            loss_value = distributed.mean(float(loss.detach()))
            lr = optimizer.param_groups[0]["lr"]
            if not math.isfinite(loss_value):
                raise TrainingDiverged(
                    f"{run.paper}/{name}: the loss became {loss_value} at step {step} "
                    f"(learning rate {lr:.3g}). Lower the learning rate or clip gradients "
                    "with --set, e.g. --set lr=<smaller>."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(
                torch.nn.utils.clip_grad_norm_(
                    model.parameters(), clip_norm if clip_norm is not None else float("inf")
                )
            )
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1

            history.step.append(step)
            history.loss.append(loss_value)
            history.lr.append(lr)
            history.grad_norm.append(grad_norm)
            for k, v in extra.items():
                history.extra.setdefault(k, []).append(distributed.mean(float(v)))
            bar.update(1)
            bar.set_postfix(
                loss=f"{loss_value:.4f}", **{k: f"{v:.3g}" for k, v in extra.items()}, refresh=False
            )

            if eval_fn is not None and eval_every and (step % eval_every == 0 or step == steps):
                # "seconds": training time so far, without the time spent evaluating
                trained = time.perf_counter() - began - history.eval_seconds
                evaluated = time.perf_counter()
                history.evals.append({"step": step, "seconds": trained, **_evaluate(model, eval_fn)})
                history.eval_seconds += time.perf_counter() - evaluated
                if stop_when is not None and stop_when(history.evals[-1]):
                    break
            history.seconds = time.perf_counter() - began
            if step < steps and time.perf_counter() - last_save > checkpoint_seconds:
                checkpoint(step, done=False)
                last_save = time.perf_counter()
    except KeyboardInterrupt:
        history.seconds = time.perf_counter() - began
        checkpoint(step, done=False)  # every completed step is kept
        raise
    finally:
        bar.close()
    history.seconds = time.perf_counter() - began
    checkpoint(step, done=True)
    return history


@torch.no_grad()
def _evaluate(model: nn.Module, eval_fn: Callable[[nn.Module], dict[str, float]]) -> dict[str, float]:
    was_training = model.training
    model.eval()
    try:
        return {k: float(v) for k, v in eval_fn(model).items()}
    finally:
        model.train(was_training)


def _capture_rng() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x
