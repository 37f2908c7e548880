"""Repeat After Me: Transformers are Better than State Space Models at Copying (Jelassi,
Brandfonbrener, Kakade, Malach, 2024).

A state-space model reads its input into a state of fixed size; a transformer keeps every
token and can look back at any of them. To copy a string of L letters from an alphabet of size
D, a fixed state must hold L log D bits, so a "generalized state-space model" of a given size
fails once strings are long enough (Theorem 2.7), while a two-layer transformer can copy
strings exponentially long in its size by hashing the last n tokens and looking up where that
n-gram occurred (Sec. 2.2, Theorem 2.3).

``reproduce`` trains a selective SSM (Mamba; ``landmarks.nn.ssm``, trained with the parallel
scan of ``landmarks.nn.scan``) and a transformer of about the same number of parameters
(``landmarks.nn.transformer`` with no position embeddings and, per head, a hard window on
how far back it may attend: the paper's "hard ALiBi", Sec. 4.1) on copying strings of up to L
letters (``landmarks.data.copying``), on the same batches, and measures:

1. how many training examples each needs to copy 95 % of held-out strings exactly
   (the paper's Fig. 1);
2. both models, as trained, on strings of length 2L, never seen in training (Fig. 1);
3. on the same strings, the ceiling of copying by looking up the last n letters (n = 1, 2, 3),
   which tells how far a model that learned the n-gram mechanism can go.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.data.copying import IGNORE, CopyTask, ngram_lookup_copies, string_accuracy
from landmarks.data.synthetic import batches, eval_set
from landmarks.engine import Run, fit
from landmarks.engine.optim import adamw
from landmarks.nn.counting import count_params
from landmarks.nn.ssm import MambaConfig, MambaLM
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig
from landmarks.registry import Card, ClaimSpec

__all__ = ["CARD", "PRESETS", "Config", "build_models", "examples_ratio", "reproduce"]

CARD = Card(
    citation=(
        "Samy Jelassi, David Brandfonbrener, Sham M. Kakade, Eran Malach. Repeat After Me: "
        "Transformers are Better than State Space Models at Copying. ICML 2024 (arXiv:2402.01032). "
        "Albert Gu, Tri Dao. Mamba: Linear-Time Sequence Modeling with Selective State Spaces. "
        "arXiv:2312.00752, 2023."
    ),
    takeaways=[
        "A model with a fixed-size state must compress what it read; copying a long string needs "
        "the whole string, so its state bounds the length it can copy.",
        "A transformer keeps every token and learns to copy from far fewer examples than a "
        "state-space model of the same size.",
        "With position-free attention and short hard windows, the transformer's copying carries "
        "over to strings longer than any it trained on.",
    ],
    claims=[
        ClaimSpec(
            "Training examples the SSM needs to copy 95 % of strings (length <= L) exactly, over the "
            "transformer's (a lower bound when the SSM never gets there, no number when the "
            "transformer does not)",
            ">= 4",
            "Jelassi et al. Fig. 1: at ~160 M parameters, transformers learn to copy from far fewer examples than Mamba",
        ),
        ClaimSpec(
            "Transformer's string accuracy on strings of length 2L (trained on lengths <= L), %",
            ">= 90",
            "Jelassi et al. Fig. 1: with hard ALiBi the transformer copies strings far longer than it trained on",
        ),
        ClaimSpec(
            "SSM's string accuracy at length 2L minus the transformer's, points",
            "< 0",
            "Jelassi et al. Fig. 1: Mamba's copying fails past its training lengths",
        ),
    ],
    keeps=[
        "Mamba's selective SSM as the paper compares it (input-dependent Δ, B, C; S4D-real A; the "
        "gated block with a causal convolution), trained through ``linear_scan``: the parallel scan, or on "
        "a CPU the in-place sweep that is faster there (both tested equal to the loop)",
        "a transformer of about the same parameter count with no position embeddings and hard ALiBi as "
        "the authors' code has it: of its 4 heads, three see only the last 1, 2 and 3 tokens, one sees all",
        "the copy task: <bos> string <copy> string over 26 letters, loss and exact-match accuracy on the "
        "copy only; the same batches for both models, each trained until it copies 95 % of held-out strings",
        "the ceiling of copying by n-gram lookup (Sec. 2.2), computed on the very strings evaluated, "
        "beside the models' accuracy",
    ],
    shrinks=[
        "about 0.1 M parameters per model (paper: ~160 M): the transformer has 3 layers of 64 with "
        "heads of 16 dimensions, the SSM 3 Mamba blocks of 64 with a state of 8 per channel (Mamba: 16)",
        "strings of up to L = 20 letters (the paper's are longer), batches of 32, a learning rate of 3e-3 for both",
        "training budgets of 3000 steps for the transformer and 4000 for the SSM (the SSM's 4000 take "
        "about four and a half minutes on a normal host, two to three times that on the slow AMD one): when "
        "the SSM does not reach 95 %, the ratio is a lower bound and is reported as such. The SSM's "
        "budget must exceed 4 × the transformer's examples for that bound to decide the claim (at "
        "3500 steps it did not: 112 000 / 28 800 = 3.89 on seed 0)",
        "at 2L = 40 letters a lookup on the last 2 letters can copy about a third of the strings "
        "(36-37 % on seeds 0-2) and a lookup on 3 about 96 % (96-97 %; measured each run): heads of 16 "
        "dimensions learn to match two letters reliably, not three, and at 2L the toy transformer "
        "copies from under a tenth to about half of the strings (per seed in RESULTS.md), nearer the "
        "2-letter lookup's ceiling than the 3-letter one's",
    ],
    figures={
        "Jelassi et al., Fig. 1": "copying: transformers need far fewer examples than GSSMs; with hard ALiBi they copy strings longer than any they trained on, GSSMs do not",
        "Jelassi et al., Sec. 2.2": "a two-layer transformer copies by hashing the last n tokens and attending to where they occurred",
        "Jelassi et al., Theorem 2.7": "a model with a state of b bits cannot copy strings of more than ~b / log D letters",
        "Gu & Dao, Algorithm 2": "Δ, B, C = s_Δ(x), s_B(x), s_C(x); Ā = exp(ΔA), B̄ = ΔB; h_t = Ā h_{t−1} + B̄ x_t",
    },
    notes=(
        "Claim 1 turns on two counts that move with the smallest change to the arithmetic: the "
        "examples the transformer needs, and whether the SSM reaches 95 % inside its budget. When "
        "AdamW moved from its per-tensor update to torch's fused kernel (the same algorithm, rounded "
        "differently; chosen for speed, about 0.25 against 1.0 ms an update on a normal host), seed 0 "
        "went from a bound of 4.44 (the transformer at 28,800 examples, the SSM never at 95 %) to 3.95 "
        "(32,000 against 126,400: the SSM got there 50 steps before the end of its budget) on an Intel "
        "host. Across seeds 0 to 2, both updates and two hosts (an Intel and an AMD one, whose "
        "kernels round differently too) the ratio has read from 1.5 to 6.5; per seed in RESULTS.md. "
        "The SSM needs about four or more times the transformer's examples on every seed but the "
        "one whose transformer is itself slow (seed 1, which needs two to three times the examples "
        "of seeds 0 and 2), and the claim's 4 sits inside that spread: reproduced on some seeds, not "
        "on others."
    ),
)


@dataclass(frozen=True)
class Config:
    max_length: int = 20  # L: training strings have 1..L letters
    alphabet: int = 26
    d_model: int = 64
    tf_layers: int = 3
    tf_heads: int = 4
    tf_d_ff: int = 128  # 2 · d_model, so that three layers have the SSM's parameter count
    tf_windows: str = "1,2,3,0"  # per head, the keys it may attend, itself included (0: all)
    tf_positions: str = "none"  # none (NoPE), or learned / sinusoidal to compare
    ssm_layers: int = 3
    d_state: int = 8
    batch: int = 32
    lr: float = 3e-3
    tf_steps: int = 3000  # the most each model trains; each stops when it reaches the target
    ssm_steps: int = 4000
    eval_every: int = 50
    eval_strings: int = 500
    per_length: int = 50  # test strings of each length 1..2L for the curve against length
    target: float = 0.95

    def windows(self) -> tuple[int, ...]:
        try:
            out = tuple(int(w) for w in self.tf_windows.split(","))
        except ValueError:
            raise ValueError(
                f"tf_windows must be comma-separated integers, got {self.tf_windows!r}"
            ) from None
        return out

    def validate(self) -> None:
        for name in (
            "max_length",
            "d_model",
            "tf_layers",
            "tf_heads",
            "ssm_layers",
            "d_state",
            "batch",
            "tf_steps",
            "ssm_steps",
            "eval_every",
            "eval_strings",
            "per_length",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.tf_d_ff < 0:
            raise ValueError(f"tf_d_ff must be >= 0 (0: 4 · d_model), got {self.tf_d_ff}")
        if self.alphabet < 2:
            raise ValueError(f"alphabet must be >= 2, got {self.alphabet}")
        if self.d_model % self.tf_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by tf_heads={self.tf_heads}")
        w = self.windows()
        if len(w) != self.tf_heads or any(x < 0 for x in w):
            raise ValueError(
                f"tf_windows needs one window >= 0 per head ({self.tf_heads}), got {self.tf_windows!r}"
            )
        if any(x > 2 * self.max_length + 1 for x in w):
            raise ValueError(
                f"a window longer than the training sequence ({2 * self.max_length + 1}) is no window: {w}"
            )
        if not 0 < self.target <= 1:
            raise ValueError(f"target must be in (0, 1], got {self.target}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


PRESETS = {
    "default": Config(),
    "quick": Config(
        max_length=4,
        alphabet=4,
        d_model=16,
        tf_heads=2,
        tf_windows="1,0",
        tf_layers=1,
        tf_d_ff=32,
        ssm_layers=1,
        d_state=4,
        batch=8,
        tf_steps=6,
        ssm_steps=6,
        eval_every=3,
        eval_strings=16,
        per_length=4,
    ),
}


def build_models(cfg: Config, vocab: int, block: int) -> dict[str, nn.Module]:
    tf = DecoderOnlyTransformer(
        TransformerConfig(
            vocab_size=vocab,
            block_size=block,
            n_layer=cfg.tf_layers,
            n_head=cfg.tf_heads,
            d_model=cfg.d_model,
            d_ff=cfg.tf_d_ff,
            positions=cfg.tf_positions,  # type: ignore[arg-type]
            head_windows=cfg.windows(),
        )
    )
    ssm = MambaLM(
        MambaConfig(vocab_size=vocab, n_layer=cfg.ssm_layers, d_model=cfg.d_model, d_state=cfg.d_state)
    )
    return {"transformer": tf, "ssm": ssm}


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch: int = 50) -> float:
    was = model.training
    model.eval()
    right = torch.cat(
        [string_accuracy(model(x[i : i + batch]), y[i : i + batch]) for i in range(0, len(x), batch)]
    )
    model.train(was)
    return int(right.sum()) / len(right)  # in double precision: 475 of 500 is exactly 0.95


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    train_task = CopyTask(1, cfg.max_length, cfg.alphabet)
    long_task = CopyTask(2 * cfg.max_length, 2 * cfg.max_length, cfg.alphabet)
    device = run.device
    val = tuple(t.to(device) for t in eval_set(train_task, run.seed, cfg.eval_strings))
    long = tuple(t.to(device) for t in eval_set(long_task, run.seed, cfg.eval_strings, split="test"))
    draw = batches(train_task, run.seed, cfg.batch)

    torch.manual_seed(run.seed)
    models = build_models(cfg, train_task.vocab_size, long_task.sequence_length)
    params = {name: count_params(m) for name, m in models.items()}
    run.metric("parameters", params)
    run.metric("ssm_state_numbers_per_layer", models["ssm"].mixers[0].d_inner * cfg.d_state)  # E · N

    # what copying by n-gram lookup (Sec. 2.2) could reach on these very strings
    def lookup(x: Tensor, task: CopyTask, n: int) -> float:
        return round(float(ngram_lookup_copies(x.cpu(), task, n).mean()), 4)

    ceilings = {
        f"{n}-gram": {
            "accuracy": lookup(val[0], train_task, n),
            "accuracy_at_2L": lookup(long[0], long_task, n),
        }
        for n in (1, 2, 3)
    }
    run.metric("ngram_lookup_ceilings", ceilings)
    lengths = list(range(1, 2 * cfg.max_length + 1))
    fixed = {n: CopyTask(n, n, cfg.alphabet) for n in lengths}  # strings of exactly n letters
    by_length_sets = {
        n: tuple(t.to(device) for t in eval_set(fixed[n], run.seed, cfg.per_length, "test")) for n in lengths
    }
    by_length = {
        f"{k}-gram lookup": [lookup(by_length_sets[n][0], fixed[n], k) for n in lengths] for k in (2, 3)
    }

    results: dict[str, dict] = {}
    for name, model in models.items():
        model.to(device)
        optimizer = adamw(model.parameters(), device=device, lr=cfg.lr, weight_decay=0.0)
        steps = cfg.tf_steps if name == "transformer" else cfg.ssm_steps

        def batch_fn(step: int) -> tuple[Tensor, Tensor]:
            x, y = draw(step)
            return x.to(device), y.to(device)

        def loss_fn(net: nn.Module, b: tuple[Tensor, Tensor]) -> Tensor:
            logits = net(b[0])
            return F.cross_entropy(logits.flatten(0, 1), b[1].flatten(), ignore_index=IGNORE)

        history = fit(
            run,
            name,
            model,
            optimizer,
            steps=steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            clip_norm=1.0,
            eval_fn=lambda net: {"accuracy": accuracy(net, *val)},
            eval_every=cfg.eval_every,
            stop_when=lambda e: e["accuracy"] >= cfg.target,
        )
        curve = [(e["step"] * cfg.batch, round(e["accuracy"], 4)) for e in history.evals]
        # the first evaluation at the target, judged as stop_when judged it (not on rounded numbers)
        reached = next((e["step"] * cfg.batch for e in history.evals if e["accuracy"] >= cfg.target), None)
        results[name] = {
            "examples_to_target": reached,
            "examples_trained": history.evals[-1]["step"] * cfg.batch if history.evals else 0,
            "accuracy": curve[-1][1] if curve else 0.0,
            "accuracy_at_2L": round(accuracy(model, *long), 4),
            "curve": curve,
            "by_length": [round(accuracy(model, *by_length_sets[n]), 4) for n in lengths],
            "seconds": round(history.seconds, 2),
        }
        run.log(
            f"{name}: {params[name]:,} parameters; {results[name]['accuracy']:.1%} of strings <= L copied after "
            f"{results[name]['examples_trained']:,} examples; {results[name]['accuracy_at_2L']:.1%} at 2L"
        )

    run.metric("models", results)
    run.metric("lengths", lengths)
    run.metric("lookup_by_length", by_length)
    ratio, lower_bound = examples_ratio(results["transformer"], results["ssm"])
    run.metric("ratio_is_lower_bound", lower_bound)
    if lower_bound:
        run.log(
            f"the SSM never copied {cfg.target:.0%} of strings: its {ratio:.2f}× the transformer's examples is "
            "a lower bound (its whole budget); --set ssm_steps=N trains it longer"
        )
    tf, ssm = results["transformer"], results["ssm"]
    run.check(CARD.claims[0], ratio)
    run.check(CARD.claims[1], 100 * tf["accuracy_at_2L"])
    run.check(CARD.claims[2], 100 * (ssm["accuracy_at_2L"] - tf["accuracy_at_2L"]))
    _plot(run, results, lengths, by_length, cfg)


def examples_ratio(tf: dict, ssm: dict) -> tuple[float, bool]:
    """The SSM's training examples to the target over the transformer's, and whether it is a
    lower bound (the SSM never reached the target, so its whole budget stands in). NaN when the
    transformer itself never reached it: there is then nothing to compare."""
    if tf["examples_to_target"] is None:
        return float("nan"), False
    if ssm["examples_to_target"] is None:
        return ssm["examples_trained"] / tf["examples_to_target"], True
    return ssm["examples_to_target"] / tf["examples_to_target"], False


def _plot(
    run: Run, results: dict[str, dict], lengths: list[int], lookup: dict[str, list[float]], cfg: Config
) -> None:
    from landmarks.plots import plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4))
    for i, (name, r) in enumerate(results.items()):
        if r["curve"]:
            n, a = zip(*r["curve"], strict=True)
            ax.plot(n, [100 * v for v in a], marker=".", color=f"C{i}", label=name)
        bx.plot(lengths, [100 * v for v in r["by_length"]], "o-", ms=3, color=f"C{i}", label=name)
    ax.axhline(100 * cfg.target, color="gray", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("training examples")
    ax.set_ylabel(f"strings of 1-{cfg.max_length} letters copied exactly, %")
    ax.legend()
    ax.set_title("Learning to copy")
    for (name, acc), style in zip(lookup.items(), ("--", "-."), strict=True):
        bx.plot(lengths, [100 * v for v in acc], style, color="gray", lw=1, label=f"ceiling of {name}")
    bx.axvline(cfg.max_length + 0.5, color="k", lw=0.8)
    bx.text(cfg.max_length + 1, 8, "longer than any\ntraining string", fontsize=8)
    bx.set_xlabel("string length (letters)")
    bx.set_ylabel("strings copied exactly, %")
    bx.set_title("Copying against length")
    bx.legend(fontsize=8)
    run.save_figure(
        fig, "copying", "Transformer vs selective SSM (Mamba) of about equal size on string copying"
    )
