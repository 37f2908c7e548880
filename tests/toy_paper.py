"""A tiny paper used by the engine and CLI tests: two training phases, dropout, one claim.

Registered under the id ``toy`` by the ``toy_paper`` fixture in conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from landmarks.engine import Run, fit, warmup_cosine
from landmarks.registry import Card, ClaimSpec

CARD = Card(
    citation="Toy et al. (2024). A paper for tests.",
    takeaways=["Linear regression learns a linear map."],
    claims=[ClaimSpec("final training loss is small", "<= 0.5", "0 (noise-free)")],
    keeps=["everything"],
    shrinks=["nothing"],
)

INTERRUPT_AT: int | None = None  # tests set this to simulate Ctrl-C at a step
CRASH_AT: int | None = None  # ... or a kill (no checkpoint on the way out)


@dataclass(frozen=True)
class Config:
    steps: int = 30
    lr: float = 0.05
    width: int = 16
    dropout: float = 0.1
    use_sched: bool = True

    def validate(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be ≥ 1")


PRESETS = {"default": Config(), "quick": Config(steps=12)}


def reproduce(cfg: Config, run: Run) -> None:
    true_w = torch.randn(4, 1, generator=run.generator("w"))

    def batch_fn(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if INTERRUPT_AT is not None and step == INTERRUPT_AT:
            raise KeyboardInterrupt
        if CRASH_AT is not None and step == CRASH_AT:
            raise SystemExit("killed")
        x = torch.randn(8, 4, generator=run.generator("batch", step))
        return x.to(run.device), (x @ true_w).to(run.device)

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(model(x), y)

    finals = []
    for phase in ("a", "b"):
        model = nn.Sequential(nn.Linear(4, cfg.width), nn.Dropout(cfg.dropout), nn.Linear(cfg.width, 1)).to(
            run.device
        )
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        sched = warmup_cosine(opt, 3, cfg.steps) if cfg.use_sched else None
        hist = fit(
            run,
            phase,
            model,
            opt,
            steps=cfg.steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            scheduler=sched,
            clip_norm=1.0,
            checkpoint_seconds=0.0,
            eval_fn=lambda m: {"w_norm": float(m[0].weight.norm())},
            eval_every=5,
        )
        finals.append(hist.final_loss(3))
        run.metric(f"loss_{phase}", hist.loss)
        run.metric(f"weight_{phase}", float(model[0].weight.detach().sum()))
    run.check(CARD.claims[0], finals[-1])

    from landmarks.plots import plt

    fig, ax = plt.subplots()
    ax.plot(run.metrics["loss_a"])
    run.save_figure(fig, "loss", "training loss")
