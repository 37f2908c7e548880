"""The Unreasonable Ineffectiveness of the Deeper Layers (Gromov, Tirumala, Shapourian, Glorioso,
Roberts, 2024).

If a block of n layers barely turns the residual stream, removing it should barely change the
model. Gromov et al. measure the turn as the angular distance between the stream entering
layer ℓ and the stream entering layer ℓ + n (Eq. 7),

    d(x^ℓ, x^(ℓ+n)) = (1/π) arccos( x^ℓ · x^(ℓ+n) / (‖x^ℓ‖ ‖x^(ℓ+n)‖) ),

at the last token of each sequence, averaged over a data set; they remove the block ℓ* .. ℓ*+n−1
with the smallest distance and *heal* the damage with a little QLoRA fine-tuning (Sec. 3). In
Llama-2-70B nearly half the layers go before question answering suffers, the blocks chosen are
deep ones, and removing layers from the start instead is far worse.

``reproduce`` starts from the shared 12-layer character model (``landmarks.engine.pretrained``,
trained once and cached), and measures:

1. the angular distance for every (ℓ, n), as the paper's heat maps draw it;
2. validation loss with n layers removed at the most similar block, healed and not, for several
   n, beside removing the first n layers;
3. for 25 % of the layers (3 of 12): the healed loss against the base healed the same way
   (the same QLoRA steps on the unpruned model, so that the extra training is not counted as a
   gain), where the chosen block lies, and how much more removing the first layers costs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.data.text import encode_chars, random_windows, text_split
from landmarks.engine import Run, derive_seed, fit, warmup_cosine
from landmarks.engine.pretrained import BaseFields, pretrained_lm
from landmarks.nn.lora import add_lora
from landmarks.nn.nf4 import quantize_linears
from landmarks.nn.transformer import DecoderOnlyTransformer
from landmarks.papers.peft import mean_loss
from landmarks.registry import Card, ClaimSpec

__all__ = ["CARD", "PRESETS", "Config", "angular_distances", "heal", "reproduce"]

CARD = Card(
    citation=(
        "Andrey Gromov, Kushal Tirumala, Hassan Shapourian, Paolo Glorioso, Daniel A. Roberts. "
        "The Unreasonable Ineffectiveness of the Deeper Layers. arXiv:2403.17887, 2024. "
        "Tim Dettmers, Artidoro Pagnoni, Ari Holtzman, Luke Zettlemoyer. QLoRA: Efficient Finetuning "
        "of Quantized LLMs. NeurIPS 2023."
    ),
    takeaways=[
        "The angular distance between the residual stream before layer ℓ and before layer ℓ + n says "
        "how much that block of n layers changes the representation.",
        "In the paper's LLMs the block that changes it least lies deep in the network; removing it and "
        "healing with a little QLoRA costs little.",
        "Removing as many layers from the start of the network is far more damaging.",
    ],
    claims=[
        ClaimSpec(
            "25 % of the layers removed at the most similar block, healed with QLoRA: validation loss "
            "above the base healed the same way (%)",
            "<= 5",
            "Gromov et al. (abstract): minimal degradation until a large fraction, up to half, of the layers is removed",
        ),
        ClaimSpec(
            "The chosen block's first layer, as a fraction of the depth (the deeper half: >= 0.5)",
            ">= 0.5",
            "Gromov et al., angular-distance heat maps: the most similar blocks are the deepest, before the last layer",
        ),
        ClaimSpec(
            "Removing the first 25 % of the layers instead, healed the same way: its loss cost over the "
            "chosen block's",
            ">= 3",
            "Gromov et al. Sec. 3.1, hypothesis (1): deleting a shallow layer should hurt far more "
            "than deleting a deeper one, since every later layer sees the change (the paper does not "
            "run this ablation: its Sec. 4.4 removes the deepest layers instead)",
        ),
    ],
    keeps=[
        "the angular distance at the last token (Eq. 7), averaged over held-out windows, for every "
        "start ℓ and block size n; the argmin rule for which block to remove",
        "healing with QLoRA: the remaining layers' linear weights frozen in NF4, LoRA on every one of "
        "them (the paper: on the MLP modules only, App. A.1), trained on the pretraining text",
        "the comparison with removing the first layers, healed the same way",
    ],
    shrinks=[
        "a 12-layer, 64-wide character transformer trained for minutes on Shakespeare (paper: Llama-2, "
        "Qwen, Mistral, Phi, 2.7 B to 70 B parameters)",
        "validation loss as the measure (paper: MMLU and BoolQ accuracy, and C4 loss)",
        "healing for 150 steps of 16 windows of 128 characters on the training text (paper: 5000 steps "
        "on C4)",
    ],
    figures={
        "Gromov et al., Fig. 1": "the pruning recipe: angular distance, remove the block, heal",
        "Gromov et al., QA curves": "accuracy against the fraction of layers removed: flat, then a sharp fall",
        "Gromov et al., heat maps": "angular distance (start layer × block size): smallest at depth",
        "Gromov et al., C4 loss": "loss against layers removed, with and without healing",
    },
    notes=(
        "A cost below 0.1 % of the reference loss (the evaluation's resolution) counts as 0.1 % in the "
        "ratio of the third claim, so that the ratio is defined when the chosen block costs nothing. "
        "Where the chosen block lies is what this toy does not reproduce reliably: in the 12-layer "
        "character model the most similar block of 3 starts at layer index 6, 4 and 2 (of 0–11) "
        "on seeds 0–2 (claim 2: 0.50, 0.33 and 0.17), at the edge of the deeper half on one seed "
        "and short of it on the others; removed and healed, it still costs little (claim 1). The single-layer "
        "distances are nearly flat from the third layer to the last (about 0.05 to 0.14 on seeds "
        "0–2, against 0.38 to 0.40 for the first), so which block wins moves with the base: the "
        "bases trained before 2026-11-30 drew their batches from a generator keyed by the paper "
        "that trained them first (layer-pruning or llm2vec), and on those the block started at "
        "0.25 to 0.42. The base is now the same whichever paper trains it (a test checks it), "
        "and its cache entry is keyed by the code that trains it."
    ),
)


@dataclass(frozen=True)
class Config(BaseFields):
    # the shared base's settings (base_layers, ..., cache_base) come from BaseFields
    fraction: float = 0.25  # of the layers removed for the claims
    curve: tuple[int, ...] = (1, 2, 3, 4, 6, 8)  # block sizes healed for the figure
    distance_windows: int = 256
    eval_windows: int = 128
    heal_steps: int = 150
    heal_batch: int = 16
    heal_lr: float = 3e-3
    lora_r: int = 8
    lora_alpha: float = 16.0

    @property
    def removed(self) -> int:
        return max(1, round(self.fraction * self.base_layers))

    def validate(self) -> None:
        self.base().validate()
        for name in ("distance_windows", "eval_windows", "heal_batch", "lora_r"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.heal_steps < 0:
            raise ValueError(f"heal_steps must be >= 0, got {self.heal_steps}")
        if not 0 < self.fraction < 1:
            raise ValueError(f"fraction must be between 0 and 1 (of the layers removed), got {self.fraction}")
        too_many = [n for n in (self.removed, *self.curve) if not 1 <= n < self.base_layers]
        if too_many:
            raise ValueError(
                f"cannot remove {too_many[0]} layers of a {self.base_layers}-layer model: "
                f"remove between 1 and {self.base_layers - 1} (fraction and curve)"
            )
        if not (self.heal_lr > 0 and self.lora_alpha > 0):
            raise ValueError("heal_lr and lora_alpha must be > 0")


PRESETS = {
    "default": Config(),
    "quick": Config(
        base_layers=4,
        base_width=16,
        base_heads=2,
        context=16,
        base_steps=4,
        base_batch=4,
        cache_base=False,
        curve=(1, 2),
        distance_windows=8,
        eval_windows=4,
        heal_steps=2,
        heal_batch=4,
    ),
}


# ---- the angular distance (Eq. 7) -------------------------------------------------------------------


@torch.no_grad()
def angular_distances(model: DecoderOnlyTransformer, x: Tensor) -> Tensor:
    """(L, L) with [n − 1, ℓ] = d(x^ℓ, x^(ℓ+n)) at the last token, averaged over the windows x
    (B, T); NaN where ℓ + n > L."""
    stream = torch.stack([h[:, -1] for h in model.residual_stream(x)])  # (L + 1, B, d)
    unit = F.normalize(stream.double(), dim=-1)
    cos = torch.einsum("ibd,jbd->ijb", unit, unit).clamp(-1, 1)  # (L + 1, L + 1, B)
    angle = (torch.arccos(cos) / math.pi).mean(-1)  # (L + 1, L + 1)
    layers = len(model.layers)
    out = torch.full((layers, layers), float("nan"), dtype=torch.float64)
    for n in range(1, layers + 1):
        for start in range(layers - n + 1):
            out[n - 1, start] = angle[start, start + n]
    return out


def most_similar_block(distances: Tensor, n: int) -> int:
    """ℓ* = argmin_ℓ d(x^ℓ, x^(ℓ+n))."""
    row = distances[n - 1]
    return int(torch.nan_to_num(row, nan=math.inf).argmin())


# ---- healing with QLoRA ---------------------------------------------------------------------------


def heal(model: DecoderOnlyTransformer, cfg: Config, run: Run, train: Tensor, name: str) -> nn.Module:
    """QLoRA on a copy of ``model``: every linear layer of its blocks frozen in NF4 with a LoRA
    update beside it, fine-tuned on the pretraining text for ``heal_steps`` steps."""
    healed = model.without_layers(0, 0)  # a copy
    healed.unstack_in_proj()
    linears = ["self_attn.in_proj", "self_attn.out_proj", "linear1", "linear2"]
    for p in healed.parameters():
        p.requires_grad_(False)
    quantize_linears(healed, linears)
    torch.manual_seed(derive_seed(run.seed, run.paper, "lora", name))
    add_lora(healed, linears, cfg.lora_r, cfg.lora_alpha)
    healed.to(run.device)
    if cfg.heal_steps:
        params = [p for p in healed.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.heal_lr, weight_decay=0.0)

        def batch_fn(step: int) -> tuple[Tensor, Tensor]:  # the same batches for every healing
            return random_windows(train, cfg.heal_batch, cfg.context, run.generator("heal", step))

        def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
            return net.loss(*batch)

        fit(
            run,
            f"heal-{name}",
            healed,
            optimizer,
            steps=cfg.heal_steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            scheduler=warmup_cosine(optimizer, max(1, cfg.heal_steps // 10), cfg.heal_steps),
            checkpoint_seconds=math.inf,
        )
    return healed.eval()


# ---- the experiment -------------------------------------------------------------------------------


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    data = encode_chars(text_split(run.data_dir))
    device = run.device
    base = pretrained_lm(run, cfg.base(), data, cache=cfg.cache_base)
    train = data.train.to(device)
    probe_x, _ = random_windows(data.val, cfg.distance_windows, cfg.context, run.generator("probe"))
    val = tuple(
        t.to(device) for t in random_windows(data.val, cfg.eval_windows, cfg.context, run.generator("val"))
    )
    layers = cfg.base_layers

    distances = angular_distances(base, probe_x.to(device))
    base_loss = mean_loss(base, *val)
    run.metric("base_val_loss", round(base_loss, 4))
    run.log(f"base: {layers} layers, validation loss {base_loss:.4f}")

    # unhealed, every n: at the most similar block, and from the start
    began = time.perf_counter()
    unhealed = {}
    for n in range(1, layers):
        start = most_similar_block(distances, n)
        unhealed[n] = {
            "start": start,
            "distance": round(float(distances[n - 1, start]), 4),
            "similar_block": round(mean_loss(base.without_layers(start, n), *val), 4),
            "first_layers": round(mean_loss(base.without_layers(0, n), *val), 4),
        }
    run.metric("unhealed", unhealed)
    run.log(f"removals without healing measured ({time.perf_counter() - began:.1f} s)")

    # healed: the reference (nothing removed), the curve, and the first layers at the claims' n
    reference = mean_loss(heal(base, cfg, run, train, "none"), *val)
    healed = {}
    for n in sorted({*cfg.curve, cfg.removed}):
        start = unhealed[n]["start"]
        healed[n] = {
            "start": start,
            "similar_block": round(
                mean_loss(heal(base.without_layers(start, n), cfg, run, train, f"{n}"), *val), 4
            ),
        }
        run.log(f"{n} layers removed at {start}..{start + n - 1}, healed: {healed[n]['similar_block']:.4f}")
    n = cfg.removed
    first = mean_loss(heal(base.without_layers(0, n), cfg, run, train, f"first-{n}"), *val)
    healed[n]["first_layers"] = round(first, 4)
    run.metric("healed", healed)
    run.metric("reference_healed_val_loss", round(reference, 4))
    run.metric(
        "distances", [[None if math.isnan(v) else round(v, 4) for v in row] for row in distances.tolist()]
    )

    chosen_cost = 100 * (healed[n]["similar_block"] / reference - 1)
    first_cost = 100 * (first / reference - 1)
    run.metric("cost_pct", {"similar_block": round(chosen_cost, 3), "first_layers": round(first_cost, 3)})
    run.check(CARD.claims[0], round(chosen_cost, 3))
    run.check(CARD.claims[1], round(healed[n]["start"] / layers, 3))
    run.check(CARD.claims[2], round(first_cost / max(chosen_cost, 0.1), 3))
    _plot(run, distances, unhealed, healed, base_loss, reference, cfg)


def _plot(
    run: Run, distances: Tensor, unhealed: dict, healed: dict, base_loss: float, reference: float, cfg: Config
) -> None:
    from landmarks.plots import plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    layers = cfg.base_layers
    image = ax.imshow(distances.numpy(), origin="lower", cmap="viridis", aspect="auto")
    ax.set_xlabel("first layer removed, ℓ")
    ax.set_ylabel("block size n")
    ax.set_yticks(range(layers), [str(i + 1) for i in range(layers)])
    ax.scatter(
        [unhealed[n]["start"] for n in unhealed],
        [n - 1 for n in unhealed],
        marker="x",
        color="red",
        label="ℓ*(n)",
    )
    ax.set_title("Angular distance d(x^ℓ, x^(ℓ+n))")
    ax.legend(loc="upper right")
    fig.colorbar(image, ax=ax)
    ns = sorted(unhealed)
    bx.plot(
        ns,
        [unhealed[n]["similar_block"] for n in ns],
        "o-",
        color="C0",
        label="most similar block, not healed",
    )
    bx.plot(
        ns, [unhealed[n]["first_layers"] for n in ns], "s--", color="C3", label="first layers, not healed"
    )
    hs = sorted(healed)
    bx.plot(
        hs, [healed[n]["similar_block"] for n in hs], "o-", color="C2", label="most similar block, healed"
    )
    bx.scatter(
        [cfg.removed],
        [healed[cfg.removed]["first_layers"]],
        marker="s",
        color="C1",
        zorder=3,
        label="first layers, healed",
    )
    bx.axhline(base_loss, color="gray", ls=":", label="base")
    bx.axhline(reference, color="gray", ls="--", label="base, healed the same way")
    bx.set_yscale("log")
    bx.set_xlabel("layers removed")
    bx.set_ylabel("validation loss (nats/char)")
    bx.set_title("Loss against layers removed")
    bx.legend(fontsize=7)
    run.save_figure(fig, "layer_pruning", "Angular distances, and loss against layers removed")
