"""TransformerFAM: Feedback attention is working memory (Hwang, Wang, Huo, Sim, Moreno Mengibar,
2024).

Sliding-window attention bounds what a transformer can read; Hwang et al. add a *feedback
attention memory* (FAM): a few memory tokens per layer that read each block and are carried,
as the layer's own output, into the next block. The model then holds information from
arbitrarily far back, with no new weights and a state of fixed size (Fig. 2). The paper shows
FAM retrieving a passkey up to 260 k tokens back, far past the window, where block
sliding-window attention (BSWA) alone fails. The models are in ``landmarks.nn.fam``.

``reproduce`` trains BSWA and BSWA + FAM of the same layers on the same passkey sequences
(``landmarks.data.passkey``: a 5-digit key hidden in random filler, asked for at the end), and
measures:

1. passkey accuracy (all 5 digits right) by the key's distance from the question, inside and
   beyond the furthest BSWA alone can reach (depth × window, each layer reading one memory block
   further back than the one below, plus the block itself: 48 tokens by default);
2. FAM's decoding state in bytes, and its decoding memory measured (that state plus a step's peak
   allocations), at 1, 2 and 4 times the training length.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from landmarks.data.passkey import PasskeyTask, passkey_accuracy
from landmarks.engine import Run, derive_seed, fit, warmup_cosine
from landmarks.engine.profiling import peak_bytes
from landmarks.nn.fam import FAMConfig, FAMTransformer, state_bytes
from landmarks.registry import Card, ClaimSpec

__all__ = ["CARD", "PRESETS", "Config", "reproduce"]

CARD = Card(
    citation=(
        "Dongseong Hwang, Weiran Wang, Zhuoyuan Huo, Khe Chai Sim, Pedro Moreno Mengibar. "
        "TransformerFAM: Feedback attention is working memory. arXiv:2404.09173, 2024. "
        "Amirkeivan Mohtashami, Martin Jaggi. Landmark Attention: Random-Access Infinite Context "
        "Length for Transformers (the PassKey task). NeurIPS 2023."
    ),
    takeaways=[
        "Block sliding-window attention bounds both a transformer's cost and what it can remember.",
        "A few feedback memory tokens per layer, which read each block and are carried to the next as "
        "the layer's own output, give it a working memory of fixed size.",
        "With it, a key far outside the window is retrieved; without it, the model guesses.",
    ],
    claims=[
        ClaimSpec(
            "BSWA + FAM: passkey accuracy with the key beyond BSWA's reach, depth × window (%)",
            ">= 90",
            "Hwang et al., PassKey: FAM retrieves the key up to 260 k tokens back, far past the window",
        ),
        ClaimSpec(
            "BSWA alone: per-digit accuracy with the key beyond its reach, depth × window (%; chance 10)",
            "<= 12",
            "Hwang et al., PassKey: BSWA fails once the key leaves its memory segments",
        ),
        ClaimSpec(
            "FAM's decoding memory at 4 × the training length over that at 1 × (and at 2 ×: the larger); "
            "the state carried plus a step's peak allocations, measured",
            "<= 1.1",
            "Hwang et al., Fig. 2: FAM is a working memory of fixed size, whatever the context length",
        ),
    ],
    keeps=[
        "BSWA's blocks and memory segment; FAM tokens that attend the block and themselves, pass the "
        "feed-forward network, and feed back as the same layer's FAM input for the next block",
        "the block's tokens attending the memory block, their block causally, and the previous FAM",
        "the same layers, batches and steps for BSWA and BSWA + FAM; decoding a token at a time with a "
        "fixed-size state, tested equal to the whole-sequence forward",
        "BSWA's reach measured as the paper describes its receptive field, depth × window (here 2 "
        "layers × a memory block of 16, plus the current block: 48 tokens): a key counts as beyond it "
        "only when no digit of it is within reach of any answer position",
    ],
    shrinks=[
        "a 2-layer, 64-wide model trained from scratch on the passkey task alone (paper: Flan-PaLM 1 B "
        "to 24 B, fine-tuned with FAM)",
        "blocks of 16 tokens, one memory block, 8 FAM tokens, sequences of 128 (paper: blocks of 1024, "
        "64 FAM tokens, PassKey at up to 260 k tokens)",
        "a learned FAM start per layer (paper: learned prompts)",
        "each place of the key written with its own ten symbols, so that the memory keeps five fields, "
        "not also their order; and a length curriculum (32, then 64, then 128 tokens) for both models, "
        "without which neither learns to look the key up in 2000 steps",
    ],
    figures={
        "Hwang et al., Fig. 2": "BSWA and FAM: attention of the block and of the feedback memory",
        "Hwang et al., PassKey": "FAM retrieves the key at every length tried, BSWA only within its window",
    },
)


@dataclass(frozen=True)
class Config:
    length: int = 128
    block: int = 16
    memory: int = 1
    fam_tokens: int = 8
    digits: int = 5
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    batch: int = 32
    steps: int = 2000
    # a length curriculum: the first steps on shorter sequences, then ``length`` (the same for both models)
    curriculum: tuple[int, ...] = (32, 64)
    curriculum_steps: tuple[int, ...] = (300, 700)
    lr: float = 2e-3
    eval_per_distance: int = 64
    distances: int = 12  # distances probed, spread from the nearest to the furthest

    def validate(self) -> None:
        for name in ("n_layer", "n_head", "d_model", "batch", "steps", "eval_per_distance", "digits"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.fam_tokens < 1:
            raise ValueError(
                f"fam_tokens must be >= 1: FAM needs memory tokens (0 is BSWA alone), got {self.fam_tokens}"
            )
        if self.memory < 0:
            raise ValueError(f"memory must be >= 0 blocks, got {self.memory}")
        if self.block < 1:
            raise ValueError(f"block must be >= 1, got {self.block}")
        reach = (self.n_layer * self.memory + 1) * self.block
        if reach + self.digits + 2 >= self.length - self.digits - 1:
            raise ValueError(
                f"BSWA's reach ({reach} tokens: block {self.block} × (n_layer {self.n_layer} × memory "
                f"{self.memory} + 1)) must be well inside the sequence ({self.length}) so that keys can "
                "lie beyond it: a larger length, or a smaller block or memory"
            )
        if len(self.curriculum) != len(self.curriculum_steps) or any(n < 0 for n in self.curriculum_steps):
            raise ValueError("curriculum and curriculum_steps need one step count >= 0 per length")
        if sum(self.curriculum_steps) >= self.steps:
            raise ValueError(
                f"the curriculum's {sum(self.curriculum_steps)} steps leave none of {self.steps} at the full length"
            )
        for n in self.curriculum:
            PasskeyTask(n, self.digits)  # each length must hold a key and the question
        if self.distances < 2:
            raise ValueError(f"distances must be >= 2, got {self.distances}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        self.model(0).validate()

    def model(self, fam_tokens: int) -> FAMConfig:
        return FAMConfig(
            vocab_size=PasskeyTask(self.length, self.digits).vocab_size,
            block=self.block,
            memory=self.memory,
            fam_tokens=fam_tokens,
            n_layer=self.n_layer,
            n_head=self.n_head,
            d_model=self.d_model,
        )


PRESETS = {
    "default": Config(),
    "quick": Config(
        curriculum=(20,),
        curriculum_steps=(1,),
        length=40,
        block=4,
        fam_tokens=2,
        digits=2,
        n_layer=1,
        n_head=2,
        d_model=16,
        batch=4,
        steps=3,
        eval_per_distance=2,
        distances=3,
    ),
}


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    task = PasskeyTask(cfg.length, cfg.digits)
    reach = cfg.model(0).reach
    lowest = cfg.digits + 1
    probes = sorted(
        {round(lowest + i * (task.max_distance - lowest) / (cfg.distances - 1)) for i in range(cfg.distances)}
        | {reach + cfg.digits, reach + cfg.digits + 1}
    )
    ends = [sum(cfg.curriculum_steps[: i + 1]) for i in range(len(cfg.curriculum))]
    tasks = [PasskeyTask(n, cfg.digits) for n in cfg.curriculum]

    def stage(step: int) -> PasskeyTask:
        return next((t for t, end in zip(tasks, ends, strict=True) if step < end), task)

    rows: dict[str, dict] = {}
    models: dict[str, FAMTransformer] = {}
    for name, fam in (("bswa", 0), ("fam", cfg.fam_tokens)):
        torch.manual_seed(derive_seed(run.seed, run.paper, "init"))  # the same start for the shared weights
        model = FAMTransformer(cfg.model(fam)).to(run.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.01)

        def batch_fn(step: int) -> tuple[Tensor, Tensor]:  # the same sequences for both models
            x, y, _ = stage(step).batch(cfg.batch, run.generator("train", step))
            return x.to(run.device), y.to(run.device)

        def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
            return net.loss(*batch)

        history = fit(
            run,
            name,
            model,
            optimizer,
            steps=cfg.steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            scheduler=warmup_cosine(optimizer, max(1, cfg.steps // 20), cfg.steps, floor=0.1),
            clip_norm=1.0,
        )
        model.eval()
        rows[name] = {"seconds": round(history.seconds, 2), **_by_distance(model, task, probes, cfg, run)}
        beyond = rows[name]["beyond_reach"]
        run.log(
            f"{name}: passkey {100 * beyond['passkey']:.1f} %, digits {100 * beyond['digits']:.1f} % beyond BSWA's reach"
        )
        models[name] = model
    run.metric("reach", reach)
    run.metric("models", rows)
    run.check(CARD.claims[0], round(100 * rows["fam"]["beyond_reach"]["passkey"], 2))
    run.check(CARD.claims[1], round(100 * rows["bswa"]["beyond_reach"]["digits"], 2))
    memory = _decoding_state(models["fam"], cfg, run)
    run.metric("decoding_state_bytes", memory["state_bytes"])
    run.metric("decoding_memory_bytes", memory["memory_bytes"])
    sizes = list(memory["memory_bytes"].values())
    run.check(CARD.claims[2], round(max(sizes[1:]) / sizes[0], 3))
    _plot(run, rows, reach, cfg)


@torch.no_grad()
def _by_distance(model: FAMTransformer, task: PasskeyTask, probes: list[int], cfg: Config, run: Run) -> dict:
    """Passkey and per-digit accuracy at each probed distance, and over the distances where no
    digit of the key is within BSWA's reach of any answer position."""
    reach = model.cfg.reach
    per, right_keys, right_digits, n = {}, 0, 0, 0
    for d in probes:
        x, y, _ = task.batch(cfg.eval_per_distance, run.generator("eval", d), distance=d)
        logits = model(x.to(run.device)).cpu()
        keys = passkey_accuracy(logits, y)
        scored = y != -100
        digits = ((logits.argmax(-1) == y) & scored).sum() / scored.sum()
        per[d] = {"passkey": round(float(keys.float().mean()), 4), "digits": round(float(digits), 4)}
        if d > reach + cfg.digits:
            right_keys += int(keys.sum())
            right_digits += float(digits) * len(x)
            n += len(x)
    return {"by_distance": per, "beyond_reach": {"passkey": right_keys / n, "digits": right_digits / n}}


@torch.no_grad()
def _decoding_state(model: FAMTransformer, cfg: Config, run: Run) -> dict[str, dict[int, int]]:
    """At 1, 2 and 4 times the training length: the bytes of FAM's state carried between
    tokens, and its decoding memory measured (``engine.profiling.peak_bytes``): that state plus
    the peak of what the step at that length allocates."""
    states = model.init_state(1)
    token = torch.zeros(1, dtype=torch.long, device=run.device)
    out: dict[str, dict[int, int]] = {"state_bytes": {}, "memory_bytes": {}}
    marks = (cfg.length, 2 * cfg.length, 4 * cfg.length)
    for t in range(1, 4 * cfg.length + 1):
        if t in marks:
            held = state_bytes(states)
            logits, peak = peak_bytes(partial(model.step, token, states), run.device)
            token = logits.argmax(-1)
            out["memory_bytes"][t] = held + peak
            out["state_bytes"][t] = state_bytes(states)
        else:
            token = model.step(token, states).argmax(-1)
    return out


def _plot(run: Run, rows: dict[str, dict], reach: int, cfg: Config) -> None:
    from landmarks.plots import plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for name, color, label in (
        ("bswa", "C3", "BSWA"),
        ("fam", "C2", f"BSWA + FAM ({cfg.fam_tokens} tokens)"),
    ):
        per = rows[name]["by_distance"]
        ds = sorted(per, key=int)
        ax.plot([int(d) for d in ds], [100 * per[d]["passkey"] for d in ds], "o-", color=color, label=label)
    ax.axvline(reach, color="gray", ls="--", label=f"BSWA's reach ({reach} tokens)")
    ax.set_xlabel("distance from the key to the question (tokens)")
    ax.set_ylabel("passkey accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.set_title(f"PassKey retrieval, {cfg.digits} digits, sequences of {cfg.length}")
    ax.legend()
    run.save_figure(fig, "transformer_fam", "Passkey accuracy by distance, with and without FAM")
