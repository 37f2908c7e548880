"""Better & Faster Large Language Models via Multi-token Prediction (Gloeckle, Youbi Idrissi,
Rozière, Lopez-Paz, Synnaeve, 2024).

Train a language model to predict, at every position, the next n tokens with n independent
heads on a shared trunk (``landmarks.nn.multitoken``). The paper finds this helps large models
(its code models gain from about 3 B parameters, most at 13 B, the largest it trains) and hurts
small ones a little (Fig. 3), and that the extra heads come for free at inference as drafters:
self-speculative decoding accepts several tokens per forward pass and decodes up to 3 × faster,
with the greedy output unchanged (Sec. 3.2, Table S2).

``reproduce`` trains a 1-head and a 4-head character model of the same trunk on the same
batches of the bundled corpus, and measures:

1. that self-speculative decoding with the 4-head model writes exactly what greedy next-token
   decoding writes (token for token, on held-out prompts);
2. tokens accepted per forward pass, and the wall-clock time beside greedy decoding with a KV
   cache, in the same run;
3. the next-token validation loss of the 4-head model beside the 1-head model's (the paper:
   small models lose a little; the run says which the toy shows).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from landmarks.data.text import encode_chars, random_windows, text_split
from landmarks.engine import Run, derive_seed, fit, warmup_cosine
from landmarks.nn.multitoken import MultiTokenTransformer, greedy, speculative_greedy
from landmarks.nn.transformer import TransformerConfig
from landmarks.registry import Card, ClaimSpec

__all__ = ["CARD", "PRESETS", "Config", "reproduce"]

CARD = Card(
    citation=(
        "Fabian Gloeckle, Badr Youbi Idrissi, Baptiste Rozière, David Lopez-Paz, Gabriel Synnaeve. "
        "Better & Faster Large Language Models via Multi-token Prediction. ICML 2024 (arXiv:2404.19737). "
        "Mitchell Stern, Noam Shazeer, Jakob Uszkoreit. Blockwise Parallel Decoding for Deep "
        "Autoregressive Models. NeurIPS 2018."
    ),
    takeaways=[
        "n heads on a shared trunk predict the next n tokens; the loss is the sum of their cross-entropies.",
        "The extra heads draft tokens that the next-token head verifies: several tokens per forward "
        "pass, and exactly the greedy output.",
        "Whether multi-token training helps depends on scale: on code benchmarks it helps large models "
        "and costs small ones a little (Fig. 3).",
    ],
    claims=[
        ClaimSpec(
            "Self-speculative decoding: tokens that differ from greedy next-token decoding",
            "<= 0",
            "Gloeckle et al. Sec. 3.2: blockwise parallel decoding keeps the greedy output",
        ),
        ClaimSpec(
            "Self-speculative decoding with the 4-head model: tokens accepted per forward pass",
            ">= 1.5",
            "Gloeckle et al. Table S2 (7 B, 4 heads): 3.5 tokens per forward pass on code and 3.1 on text, "
            "3.05x and 2.7x faster",
        ),
    ],
    keeps=[
        "a shared trunk and n = 4 independent one-layer heads through one shared norm and "
        "unembedding; the summed loss; the sequential per-head backward of Sec. 2 (in "
        "landmarks.nn.multitoken, tested equal to the plain one; the runs here train with the plain "
        "backward of the summed loss, which gives the same gradients)",
        "self-speculative (blockwise parallel) decoding with KV caches rolled back on rejection, "
        "checked token for token against greedy decoding, timed beside it in the same run",
        "a 1-head model of the same trunk on the same batches as the baseline (0.82 M parameters "
        "against the 4-head model's 1.42 M: the extra heads are added to the trunk, where the "
        "paper's comparisons take n − 1 layers from it to keep the sizes equal)",
    ],
    shrinks=[
        "a 128-wide character model, a 3-layer trunk and one layer per head (1-head: 4 layers; 4-head: "
        "7), trained for minutes on Shakespeare (paper: 0.3 B to 13 B parameters on at least 91 B "
        "tokens of code; its 7 B models on 0.2 T to 1 T tokens)",
        "speed on two CPU cores with batch 1, where one forward pass of several tokens costs more than "
        "one of a single token; the paper's GPUs make the extra tokens nearly free. Here "
        "self-speculative decoding runs at about 0.6 to 0.8 × greedy decoding's speed (seeds 0–2, "
        "Intel and AMD hosts)",
    ],
    figures={
        "Gloeckle et al., Fig. 1": "shared trunk, n heads for tokens t+1..t+n, one unembedding",
        "Gloeckle et al., Fig. 3": "MBPP/HumanEval: 4-token prediction hurts at 0.3-0.6 B, helps from ~3 B",
        "Gloeckle et al., Table S2": "self-speculative decoding (7 B, 4 heads): 3.0x faster on code "
        "(3.5 tokens per forward pass), 2.7x on text (3.1)",
    },
    notes=(
        "The next-token loss comparison is reported, not judged: the paper itself expects a small "
        "model to lose a little from the extra heads (Fig. 3). Claim 2 sits near its threshold at "
        "this size: 1.56 to 1.72 tokens accepted per pass on seeds 0–2 (runs on Intel and AMD hosts; "
        "per-seed numbers in RESULTS.md), and 1.48 (a miss) on seed 3, run later as a check on a "
        "seed nobody had chosen. A character model of Shakespeare guesses the second to fourth next "
        "characters far less often than the paper's 7 B models guess code tokens (3.5 per pass, "
        "Table S2)."
    ),
)


@dataclass(frozen=True)
class Config:
    n_layer: int = 4  # trunk n_layer − 1, plus one layer per head
    d_model: int = 128
    n_head: int = 4
    n_future: int = 4
    context: int = 128
    batch: int = 16
    steps: int = 900
    lr: float = 2e-3
    prompts: int = 8
    prompt_length: int = 16
    eval_windows: int = 64

    def validate(self) -> None:
        for name in (
            "d_model",
            "n_head",
            "context",
            "batch",
            "steps",
            "prompts",
            "prompt_length",
            "eval_windows",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_layer < 2:
            raise ValueError(
                f"n_layer must be >= 2 (a trunk of n_layer − 1 layers and the heads), got {self.n_layer}"
            )
        if self.n_future < 2:
            raise ValueError(
                f"n_future must be >= 2 (1 is the baseline it is compared with), got {self.n_future}"
            )
        if self.n_future >= self.context:
            raise ValueError(f"n_future ({self.n_future}) must be smaller than the context ({self.context})")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_head={self.n_head}")
        if self.prompt_length >= self.context:
            raise ValueError(
                f"prompt_length ({self.prompt_length}) must leave room to generate within the context ({self.context})"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


PRESETS = {
    "default": Config(),
    "quick": Config(
        n_layer=2,
        d_model=16,
        n_head=2,
        n_future=2,
        context=24,
        batch=4,
        steps=4,
        prompts=2,
        prompt_length=4,
        eval_windows=4,
    ),
}


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    data = encode_chars(text_split(run.data_dir))
    device = run.device
    train = data.train.to(device)
    val_x, val_y = (
        t.to(device) for t in random_windows(data.val, cfg.eval_windows, cfg.context, run.generator("val"))
    )
    mcfg = TransformerConfig(
        vocab_size=len(data.vocab),
        block_size=cfg.context,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        d_model=cfg.d_model,
    )

    models: dict[int, MultiTokenTransformer] = {}
    rows: dict[str, dict] = {}
    for n in (1, cfg.n_future):
        torch.manual_seed(derive_seed(run.seed, run.paper, "init", n))
        model = MultiTokenTransformer(mcfg, n).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.1)

        def batch_fn(step: int) -> tuple[Tensor, Tensor]:  # the same batches for both models
            return random_windows(train, cfg.batch, cfg.context, run.generator("batch", step))

        def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, float]]:
            losses = net.losses(*batch)
            return losses.sum(), {"next_token": float(losses[0].detach())}

        history = fit(
            run,
            f"{n}-head",
            model,
            optimizer,
            steps=cfg.steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            scheduler=warmup_cosine(optimizer, max(1, cfg.steps // 20), cfg.steps, floor=0.1),
            clip_norm=1.0,
        )
        model.eval()
        with torch.no_grad():
            head_losses = model.losses(val_x, val_y).tolist()  # head i scored i places further ahead
        models[n] = model
        rows[f"{n}_head"] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "val_loss_per_head": [round(v, 4) for v in head_losses],
            "next_token_val_loss": round(head_losses[0], 4),
            "seconds": round(history.seconds, 2),
        }
        run.log(f"{n}-head: next-token validation loss {head_losses[0]:.4f} ({history.seconds:.0f} s)")
    run.metric("models", rows)
    difference = rows[f"{cfg.n_future}_head"]["next_token_val_loss"] - rows["1_head"]["next_token_val_loss"]
    run.metric("next_token_loss_multi_minus_single", round(difference, 4))
    run.log(
        f"the {cfg.n_future}-head model's next-token loss is {abs(difference):.4f} "
        f"{'higher' if difference > 0 else 'lower'} than the 1-head model's"
    )

    decoding = _decode(cfg, run, models[cfg.n_future], data.val.to(device))
    run.metric("decoding", decoding)
    run.check(CARD.claims[0], decoding["tokens_differing_from_greedy"])
    run.check(CARD.claims[1], decoding["tokens_per_forward_pass"])
    _plot(run, decoding, rows, cfg)


def _decode(cfg: Config, run: Run, model: MultiTokenTransformer, val: Tensor) -> dict:
    """Greedy vs self-speculative decoding on held-out prompts: tokens, passes, seconds."""
    new = cfg.context - cfg.prompt_length
    g = run.generator("prompts")
    starts = torch.randint(0, len(val) - cfg.prompt_length, (cfg.prompts,), generator=g).tolist()
    differing = generated = passes = 0
    seconds = {"greedy": 0.0, "speculative": 0.0}
    per_prompt = []
    for s in starts:
        prompt = val[s : s + cfg.prompt_length][None]
        began = time.perf_counter()
        reference = greedy(model, prompt, new)
        seconds["greedy"] += time.perf_counter() - began
        began = time.perf_counter()
        tokens, n_passes = speculative_greedy(model, prompt, new)
        seconds["speculative"] += time.perf_counter() - began
        differing += int((tokens != reference).sum())
        generated += new
        passes += n_passes
        per_prompt.append(round(new / n_passes, 3))
    return {
        "tokens_differing_from_greedy": differing,
        "tokens_generated": generated,
        "forward_passes": passes,
        "tokens_per_forward_pass": round(generated / passes, 3),
        "per_prompt": per_prompt,
        "greedy_seconds": round(seconds["greedy"], 3),
        "speculative_seconds": round(seconds["speculative"], 3),
        "speedup": round(seconds["greedy"] / seconds["speculative"], 3),
    }


def _plot(run: Run, decoding: dict, rows: dict[str, dict], cfg: Config) -> None:
    from landmarks.plots import plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax.bar(range(len(decoding["per_prompt"])), decoding["per_prompt"], color="C0")
    ax.axhline(1.0, color="gray", ls="--", lw=1, label="greedy: 1 token per pass")
    ax.set_xlabel("held-out prompt")
    ax.set_ylabel("tokens accepted per forward pass")
    ax.set_title(f"Self-speculative decoding, {cfg.n_future} heads")
    ax.legend()
    losses = rows[f"{cfg.n_future}_head"]["val_loss_per_head"]
    bx.bar([f"t+{i + 1}" for i in range(len(losses))], losses, color="C1", label=f"{cfg.n_future}-head model")
    bx.axhline(rows["1_head"]["next_token_val_loss"], color="C0", ls="--", label="1-head model, t+1")
    bx.set_ylabel("validation loss (nats/char)")
    bx.set_title("Loss of each head")
    bx.legend()
    run.save_figure(fig, "multi_token", "Tokens accepted per pass, and each head's validation loss")
