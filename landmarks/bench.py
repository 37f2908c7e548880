"""``landmarks bench``: what the readable paths cost, and how fast the fast ones are.

Each benchmark times a *pair* of ways to compute the same thing in one process, side by side,
and reports the median of repeats and their ratio: the explicit math against the fused kernel,
the KV cache against recomputing the prefix, our training step against the machine's own matmul
throughput (model FLOP utilization, MFU). Results print as a table and are written to
``bench.json`` with the torch version and thread count, because CPU numbers mean little
without them.

Speed is measured here, never asserted in tests: a loaded CI machine would fail them at random.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

from landmarks.errors import UserInputError
from landmarks.files import atomic_write_text
from landmarks.timing import timed

__all__ = ["BENCHMARKS", "Measurement", "run_benchmarks", "timed"]


@dataclass
class Measurement:
    """One row of the table: ``a`` and ``b`` timed the same way; ``ratio`` = b / a."""

    benchmark: str
    what: str
    a_label: str
    a_seconds: float
    b_label: str
    b_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.b_seconds / self.a_seconds

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


# ---- the pairs -----------------------------------------------------------------------------------


def bench_attention(repeats: int) -> list[Measurement]:
    """Scaled dot-product attention, forward and backward: F.scaled_dot_product_attention vs
    the explicit softmax(QKᵀ/√d)V, causal, at a char-LM's shape."""
    from landmarks.nn.attention import scaled_dot_product_attention

    g = torch.Generator().manual_seed(0)
    b, h, t, d = 12, 4, 256, 32
    q, k, v = (torch.randn(b, h, t, d, generator=g, requires_grad=True) for _ in range(3))

    def run(fused: bool) -> Callable[[], None]:
        def step() -> None:
            out, _ = scaled_dot_product_attention(q, k, v, causal=True, fused=fused)
            out.sum().backward()

        return step

    return [
        Measurement(
            "attention",
            f"causal attention fwd+bwd, B={b} h={h} T={t} d={d}",
            "fused",
            timed(run(True), repeats),
            "explicit",
            timed(run(False), repeats),
        )
    ]


def bench_recurrent(repeats: int) -> list[Measurement]:
    """The recurrent stacks, forward and backward: torch's fused kernels (``torch.lstm``,
    ``torch.gru``, ``torch.rnn_tanh``) vs the cell equations step by step. The GRU is the one
    RNNsearch's encoder runs (bahdanau-attention); the tanh RNN is the plain stack of the same module."""
    from landmarks.nn.recurrent import GRU, LSTM, RNN

    torch.manual_seed(0)
    b, t, hidden = 64, 100, 256
    x = torch.randn(b, t, hidden)
    rows = []
    for stack in (LSTM, GRU, RNN):
        for layers in (1, 2):
            net = stack(hidden, hidden, layers, batch_first=True)

            def run(fused: bool, net: torch.nn.Module = net) -> Callable[[], None]:
                def step() -> None:
                    net.fused = fused
                    out, _ = net(x)
                    out.sum().backward()

                return step

            rows.append(
                Measurement(
                    "recurrent",
                    f"{stack.__name__} fwd+bwd, {layers} layer(s), B={b} T={t} H={hidden}",
                    "fused",
                    timed(run(True), repeats),
                    "explicit",
                    timed(run(False), repeats),
                )
            )
    rows.append(_padded_lstm(repeats))
    return rows


def _padded_lstm(repeats: int) -> Measurement:
    """A padded batch of sets of 5 to 10 elements (pointer-networks' training batch: 128 sets, 128
    units): ``lengths=`` packs it into one fused kernel call, against what the Ptr-Net's encoder
    did before, one fused call per time step with finished sets' states held by ``torch.where``."""
    from landmarks.nn.recurrent import LSTM

    g = torch.Generator().manual_seed(0)
    b, n, size = 128, 10, 128
    net = LSTM(size, size, batch_first=True)
    x = torch.randn(b, n, size, generator=g)
    lengths = torch.randint(5, n + 1, (b,), generator=g)

    def packed() -> None:
        out, (h, c) = net(x, lengths=lengths)
        (out.sum() + h.sum() + c.sum()).backward()

    def stepwise() -> None:
        h = c = x.new_zeros(b, size)
        outputs = []
        for t in range(n):
            out, (h_new, c_new) = net(x[:, t : t + 1], (h[None], c[None]))
            going = (t < lengths)[:, None]
            h, c = torch.where(going, h_new[0], h), torch.where(going, c_new[0], c)
            outputs.append(torch.where(going, out[:, 0], 0.0))
        (torch.stack(outputs, 1).sum() + h.sum() + c.sum()).backward()

    return Measurement(
        "recurrent",
        f"LSTM fwd+bwd over a padded batch, B={b} lengths 5-{n} H={size}",
        "packed (lengths=)",
        timed(packed, repeats),
        "a fused call per step",
        timed(stepwise, repeats),
    )


def bench_scan(repeats: int) -> list[Measurement]:
    """The linear recurrence of a selective SSM, forward and backward: the parallel scan against
    autograd through the plain loop, then the in-place sweep against the parallel scan at the
    step sizes that decide ``linear_scan``'s ``method="auto"`` on a CPU."""
    from landmarks.nn.scan import linear_scan, sequential_scan

    def run(scan: Callable[..., torch.Tensor], a: torch.Tensor, b: torch.Tensor) -> Callable[[], None]:
        return lambda: scan(a, b).sum().backward()

    torch.manual_seed(0)
    rows = []
    for t in (64, 256):
        a = torch.rand(8, t, 128, 16, requires_grad=True)
        b = torch.randn(8, t, 128, 16, requires_grad=True)
        rows.append(
            Measurement(
                "scan",
                f"h_t = a_t h_(t-1) + b_t fwd+bwd, B=8 T={t} E=128 N=16",
                "parallel scan",
                timed(run(linear_scan, a, b), repeats),
                "sequential loop",
                timed(run(sequential_scan, a, b), repeats),
            )
        )
    # a step of 32 768 numbers (ssm-copying's training batch), and of 256 (where the sweep loses)
    for shape in ((32, 41, 128, 8), (1, 1024, 256)):
        a = torch.rand(*shape, requires_grad=True)
        b = torch.randn(*shape, requires_grad=True)
        step = a[:, 0].numel()
        rows.append(
            Measurement(
                "scan",
                f"fwd+bwd, T={shape[1]}, {step} numbers a step",
                "sweep",
                timed(run(partial(linear_scan, method="sweep"), a, b), repeats),
                "parallel scan",
                timed(run(partial(linear_scan, method="parallel"), a, b), repeats),
            )
        )
    return rows


# The decoder-only transformer at the size the reference figure uses: 4 layers, 128 wide,
# 4 heads, batches of 12 sequences of 64 characters of Shakespeare.
CHAR_LM = {"n_layer": 4, "n_head": 4, "d_model": 128, "block_size": 64, "batch": 12}


def matmul_flops_per_second(repeats: int, n: int = 1024) -> float:
    """fp32 throughput of a large square matmul on this machine, now: 2n³ FLOPs per product."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    return 2 * n**3 / timed(lambda: a @ b, max(repeats, 5))


def _char_lm(block_size: int | None = None):  # type: ignore[no-untyped-def]
    from landmarks.data.text import encode_chars, shakespeare_split
    from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig

    data = encode_chars(shakespeare_split())
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=len(data.vocab),
        block_size=block_size or CHAR_LM["block_size"],
        n_layer=CHAR_LM["n_layer"],
        n_head=CHAR_LM["n_head"],
        d_model=CHAR_LM["d_model"],
    )
    return DecoderOnlyTransformer(cfg), data


def bench_lm_training(repeats: int) -> list[Measurement]:
    """Training steps of the char-level decoder-only transformer, as model FLOP utilization:
    model FLOPs per second (6N + 12·L·T·d per token) over the fp32 matmul throughput."""
    from landmarks.data.text import random_windows

    model, data = _char_lm()
    t, b = CHAR_LM["block_size"], CHAR_LM["batch"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)

    def step() -> None:
        x, y = random_windows(data.train, b, t, g)
        loss = model.loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds = timed(step, max(repeats * 5, 20), warmup=5)
    peak = matmul_flops_per_second(repeats)
    flops = model.flops_per_token(context=t) * b * t
    mfu = flops / seconds / peak
    return [
        Measurement(
            "lm-training",
            f"char transformer training step, {CHAR_LM['n_layer']} layers × {CHAR_LM['d_model']}, {b} × {t} tokens",
            "1024² matmul (same FLOPs)",
            flops / peak,
            "training step",
            seconds,
            {
                "ms_per_step": seconds * 1e3,
                "model_flops_per_step": flops,
                "matmul_gflops": peak / 1e9,
                "model_gflops": flops / seconds / 1e9,
                "mfu": mfu,
                "parameters": model.num_parameters(non_embedding=False),
            },
        )
    ]


def bench_kv_cache(repeats: int) -> list[Measurement]:
    """Generating 256 tokens after a 16-token prompt, with the KV cache vs recomputing the prefix."""
    model, _ = _char_lm(block_size=272)
    model.eval()
    prompt = torch.zeros(1, 16, dtype=torch.long)

    def run(use_cache: bool) -> Callable[[], None]:
        return lambda: model.generate(prompt, 256, greedy=True, use_cache=use_cache)

    return [
        Measurement(
            "kv-cache",
            "generate 256 tokens (batch 1, greedy)",
            "KV cache",
            timed(run(True), repeats, warmup=1),
            "recompute prefix",
            timed(run(False), repeats, warmup=1),
        )
    ]


def bench_transformer_vs_rnnsearch(repeats: int) -> list[Measurement]:
    """The training-cost race of ``landmarks run transformer`` (its default preset, seed 0): the
    seconds RNNsearch trains to its final held-out BLEU vs the seconds the Transformer needs to
    reach that BLEU. One run (minutes), whatever ``repeats`` says."""
    import tempfile

    from landmarks.runner import run_paper

    with tempfile.TemporaryDirectory() as folder:
        result = run_paper("transformer", out=Path(folder), quick=False, show_progress=False)
    rnn, tf = result["metrics"]["rnnsearch"], result["metrics"]["transformer"]
    reached = tf["train_seconds_to_target"]
    return [
        Measurement(
            "transformer-vs-rnnsearch",
            f"train to RNNsearch's final BLEU ({rnn['bleu']:.1f}) on the bahdanau-attention task",
            "RNNsearch",
            rnn["train_seconds"],
            "Transformer",
            reached if reached is not None else float("inf"),
            {
                "rnnsearch_bleu": rnn["bleu"],
                "transformer_final_bleu": tf["bleu_greedy"],
                "reached": reached is not None,
            },
        )
    ]


def _vision_models():  # type: ignore[no-untyped-def]
    """(name, model builder, input shape of one training batch) for each vision entry's default run."""
    from landmarks.papers import alexnet, convnext, dilated_convolutions, identity_mappings, maxvit, resnet

    toy_maxvit = maxvit.PRESETS["default"]
    return [
        ("alexnet: four-layer ConvNet", lambda: alexnet.SmallAlexNet(16), (128, 3, 32, 32)),
        (
            "resnet: CIFAR ResNet-56, 16 wide",
            lambda: resnet.cifar_resnet(56, "A", False, 16, 1),
            (64, 1, 16, 16),
        ),
        (
            "identity-mappings: pre-activation ResNet-110, 4 wide",
            lambda: identity_mappings.VariantResNet(110, True, "identity", 4, 1),
            (64, 1, 16, 16),
        ),
        (
            "dilated-convolutions: context module",
            lambda: dilated_convolutions.ContextModule(8),
            (16, 8, 64, 64),
        ),
        ("convnext: toy ConvNeXt (ladder top)", lambda: convnext.ladder_model(5, 13), (128, 3, 32, 32)),
        (
            "maxvit: toy MaxViT, block + grid attention",
            lambda: maxvit.toy_maxvit(toy_maxvit, "grid"),
            (toy_maxvit.batch, 3, toy_maxvit.image_size, toy_maxvit.image_size),
        ),
    ]


def bench_vision(repeats: int) -> list[Measurement]:
    """Each vision entry's network at its experiment's batch: a training step (forward, backward,
    SGD) and inference, with the tensors channels-last (NHWC) vs contiguous (NCHW)."""
    import torch.nn.functional as F

    rows = []
    for name, build, shape in _vision_models():
        timings: dict[tuple[str, bool], float] = {}
        for nhwc in (True, False):
            torch.manual_seed(0)
            layout = torch.channels_last if nhwc else torch.contiguous_format
            model = build().to(memory_format=layout)
            x = torch.randn(shape).contiguous(memory_format=layout)
            optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

            def train_step(model=model, x=x, optimizer=optimizer) -> None:  # type: ignore[no-untyped-def]
                out = model(x)
                loss = F.mse_loss(out, torch.zeros_like(out))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

            def infer(model=model, x=x) -> None:  # type: ignore[no-untyped-def]
                with torch.no_grad():
                    model(x)

            model.train()
            timings["train", nhwc] = timed(train_step, repeats)
            model.eval()
            timings["infer", nhwc] = timed(infer, repeats)
        for kind in ("train", "infer"):
            fast = timings[kind, True]
            rows.append(
                Measurement(
                    "vision",
                    f"{name}, {kind} {'step' if kind == 'train' else 'pass'}, batch {tuple(shape)}",
                    "channels-last",
                    fast,
                    "contiguous",
                    timings[kind, False],
                    {
                        "images_per_second_channels_last": shape[0] / fast,
                        "images_per_second_contiguous": shape[0] / timings[kind, False],
                    },
                )
            )
    return rows


def bench_vision_transformers(repeats: int) -> list[Measurement]:
    """Images per second of the attention models of issue 11 at their toy runs' sizes, a training
    step (forward, backward, AdamW) and inference, with the fused attention kernel against the
    explicit softmax(QKᵀ/√d)V: the ViT of ``landmarks run vit`` (vit-registers and aim train ViTs
    of the same depth and width, patches of 4 on 32×32 images, too) and ``latent-diffusion``'s
    class-conditional UNet on its 16×16 pixels and on its 8×8 latents (LDM-2), at its batch and
    with its classes. Sizes are read from those papers' default presets."""
    import torch.nn.functional as F

    from landmarks.data.shapes import CLASSES, PlainShapes
    from landmarks.nn.unet import UNet
    from landmarks.nn.vit import VisionTransformer
    from landmarks.papers import latent_diffusion, vit

    Forward = Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]
    vit_cfg = vit.PRESETS["default"]
    ldm_cfg, shapes = latent_diffusion.PRESETS["default"], PlainShapes()
    ldm_k, ldm_t = shapes.num_classes, ldm_cfg.timesteps // 2  # every class; a middle timestep
    latent_side = shapes.size // ldm_cfg.latent_factor

    def vit_model(fused: bool) -> tuple[torch.nn.Module, Forward]:
        cfg = replace(vit_cfg.vit_config(len(CLASSES)), fused=fused)
        return VisionTransformer(cfg), lambda m, x: m(x)

    def unet(channels: int) -> Callable[[bool], tuple[torch.nn.Module, Forward]]:
        config = latent_diffusion.denoiser(channels, ldm_cfg, ldm_k).config  # the toy run's own builder

        def build(fused: bool) -> tuple[torch.nn.Module, Forward]:
            model = UNet(config, fused=fused)
            labels = torch.arange(ldm_cfg.batch) % ldm_k
            return model, lambda m, x: m(x, torch.full((len(x),), ldm_t), labels[: len(x)])

        return build

    size, patch = vit_cfg.vit_config(len(CLASSES)).image_size, vit_cfg.patch_size
    entries: list[tuple[str, Callable[[bool], tuple[torch.nn.Module, Forward]], tuple[int, ...]]] = [
        (
            f"ViT {vit_cfg.depth}×{vit_cfg.d_model}, patches of {patch} on {size}×{size} "
            f"({(size // patch) ** 2 + 1} tokens)",
            vit_model,
            (vit_cfg.batch, 3, size, size),
        ),
        (
            f"class-conditional UNet, {ldm_cfg.unet_channels} wide, cross-attention, "
            f"pixels ({shapes.size}×{shapes.size}×3)",
            unet(3),
            (ldm_cfg.batch, 3, shapes.size, shapes.size),
        ),
        (
            f"class-conditional UNet, {ldm_cfg.unet_channels} wide, cross-attention, "
            f"latents ({latent_side}×{latent_side}×{ldm_cfg.latent_channels})",
            unet(ldm_cfg.latent_channels),
            (ldm_cfg.batch, ldm_cfg.latent_channels, latent_side, latent_side),
        ),
    ]
    rows = []
    for name, build, shape in entries:
        timings: dict[tuple[str, bool], float] = {}
        for fused in (True, False):
            torch.manual_seed(0)
            model, forward = build(fused)
            x = torch.randn(shape)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

            def train_step(model=model, x=x, optimizer=optimizer, forward=forward) -> None:  # type: ignore[no-untyped-def]
                out = forward(model, x)
                loss = F.mse_loss(out, torch.zeros_like(out))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

            def infer(model=model, x=x, forward=forward) -> None:  # type: ignore[no-untyped-def]
                with torch.no_grad():
                    forward(model, x)

            model.train()
            timings["train", fused] = timed(train_step, repeats)
            model.eval()
            timings["infer", fused] = timed(infer, repeats)
        for kind in ("train", "infer"):
            rows.append(
                Measurement(
                    "vision-transformers",
                    f"{name}, {kind} {'step' if kind == 'train' else 'pass'}, batch {shape[0]}",
                    "fused",
                    timings[kind, True],
                    "explicit",
                    timings[kind, False],
                    {
                        "images_per_second_fused": shape[0] / timings[kind, True],
                        "images_per_second_explicit": shape[0] / timings[kind, False],
                    },
                )
            )
    return rows


def bench_optimizer(repeats: int) -> list[Measurement]:
    """One AdamW update of three papers' models at their default sizes: torch's fused kernel (what
    ``landmarks.engine.optim.adamw`` picks) against torch's default, which on a CPU updates one
    tensor at a time. The update alone, on fixed gradients: ``latent-diffusion``'s UNet,
    ``griffin``'s Griffin and the largest transformer of ``scaling-laws``."""
    from landmarks.data.text import encode_chars, text_split
    from landmarks.engine.optim import fused_available
    from landmarks.nn.griffin import GriffinLM
    from landmarks.nn.transformer import DecoderOnlyTransformer
    from landmarks.papers import griffin, latent_diffusion, scaling_laws

    if not fused_available("cpu"):
        return []  # torch < 2.4: no fused kernel on a CPU to compare
    vocab = len(encode_chars(text_split(None)).vocab)
    ldm_cfg, sl_cfg = latent_diffusion.PRESETS["default"], scaling_laws.PRESETS["default"]
    largest = max(sl_cfg.sizes, key=lambda s: s[0] * s[1] ** 2)
    models = [
        ("latent-diffusion's UNet (pixels)", lambda: latent_diffusion.denoiser(3, ldm_cfg, 4)),
        (
            "griffin's Griffin",
            lambda: GriffinLM(griffin.model_configs(griffin.PRESETS["default"], vocab)["griffin"]),
        ),
        (
            f"scaling-laws' {largest[0]} × {largest[1]} transformer",
            lambda: DecoderOnlyTransformer(scaling_laws.model_config(*largest, sl_cfg, vocab)),
        ),
    ]
    rows = []
    for what, build in models:
        timings = {}
        for fused in (True, False):
            torch.manual_seed(0)
            model = build()
            for p in model.parameters():
                p.grad = torch.randn_like(p) * 1e-3
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, fused=fused or None)
            timings[fused] = timed(optimizer.step, repeats)
        params = list(model.parameters())
        rows.append(
            Measurement(
                "optimizer",
                f"{what}: {len(params)} tensors, {sum(p.numel() for p in params):,} parameters, one AdamW step",
                "fused",
                timings[True],
                "default",
                timings[False],
            )
        )
    return rows


def bench_bpe(repeats: int) -> list[Measurement]:
    """Byte-level BPE on the corpus: training to 4,096 tokens, and encoding the held-out plays
    with ours against Hugging Face ``tokenizers`` and ``tiktoken`` loaded with the same merges
    (each skipped when not installed). Encoding is timed warm: every tokenizer caches words."""
    from landmarks.data.text import text_split
    from landmarks.tokenizers.bpe import train_bpe
    from landmarks.tokenizers.interop import to_hf_tokenizer, to_tiktoken

    split = text_split(None)
    began = time.perf_counter()
    tok = train_bpe([split.train], 4096, ("<|endoftext|>",))
    train_seconds = time.perf_counter() - began
    text = split.val
    megabytes = len(text.encode("utf-8")) / 1e6
    ours = timed(lambda: tok.encode(text), repeats, warmup=1)
    rows = []
    for name, build in (("tokenizers", to_hf_tokenizer), ("tiktoken", to_tiktoken)):
        try:
            other = build(tok)
        except ImportError:
            continue
        encode = (
            (lambda o=other: o.encode(text).ids)
            if name == "tokenizers"
            else (lambda o=other: o.encode_ordinary(text))
        )
        theirs = timed(encode, repeats, warmup=1)
        rows.append(
            Measurement(
                "bpe",
                f"encode {megabytes:.2f} MB of held-out text, 4,096-token byte-level BPE",
                name,
                theirs,
                "ours",
                ours,
                {
                    "ours_mb_per_s": megabytes / ours,
                    f"{name}_mb_per_s": megabytes / theirs,
                    "train_seconds": train_seconds,
                },
            )
        )
    return rows


def bench_metrics(repeats: int) -> list[Measurement]:
    """Scoring 2,000 lines of 20 words: our BLEU and chrF against sacrebleu's, our ROUGE
    (1, 2, L, Lsum) against rouge-score's, on the same lines (each skipped when not installed)."""
    from landmarks.data.text import text_split
    from landmarks.metrics import corpus_bleu, corpus_chrf, rouge
    from landmarks.papers.metrics import speed_corpus

    hyps, refs = speed_corpus(text_split(None).val, 2000, 0)
    what = "2,000 lines of 20 words"
    pairs: list[tuple[str, Callable[[], object], str, str]] = []
    try:
        import sacrebleu

        pairs.append(("BLEU", lambda: sacrebleu.corpus_bleu(hyps, [refs]), "sacrebleu", "bleu"))
        pairs.append(("chrF", lambda: sacrebleu.corpus_chrf(hyps, [refs]), "sacrebleu", "chrf"))
    except ImportError:
        pass
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    try:
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(types)
        pairs.append(
            (
                "ROUGE",
                lambda: [scorer.score(r, h) for h, r in zip(hyps, refs, strict=True)],
                "rouge-score",
                "rouge",
            )
        )
    except ImportError:
        pass
    ours = {
        "bleu": lambda: corpus_bleu(hyps, [refs]),
        "chrf": lambda: corpus_chrf(hyps, [refs]),
        "rouge": lambda: [rouge(h, r, types) for h, r in zip(hyps, refs, strict=True)],
    }
    return [
        Measurement(
            "metrics",
            f"{name}, {what}",
            label,
            timed(theirs, repeats, warmup=1),
            "ours",
            timed(ours[key], repeats, warmup=1),
        )
        for name, theirs, label, key in pairs
    ]


def bench_embeddings(repeats: int) -> list[Measurement]:
    """Skip-gram on the planted corpus (20,000 sentences, 5 epochs): ours against gensim's
    Word2Vec with the same settings and as many worker threads as torch uses."""
    import numpy as np

    from landmarks.embeddings.planted import planted_corpus
    from landmarks.embeddings.word2vec import train_word2vec

    try:
        from gensim.models import Word2Vec
    except ImportError:
        return []
    sentences = planted_corpus(np.random.default_rng(0), 20000)
    words = 5 * sum(map(len, sentences))
    threads = torch.get_num_threads()
    ours = timed(lambda: train_word2vec(sentences, 50, 5, epochs=5), repeats, warmup=1)
    theirs = timed(
        lambda: Word2Vec(
            sentences, vector_size=50, window=5, min_count=1, sg=1, negative=5, epochs=5, workers=threads
        ),
        repeats,
        warmup=1,
    )
    return [
        Measurement(
            "embeddings",
            f"skip-gram, 5 epochs of {words // 5:,} words, {threads} threads",
            "gensim",
            theirs,
            "ours",
            ours,
            {"ours_words_per_second": words / ours, "gensim_words_per_second": words / theirs},
        )
    ]


def bench_ann(repeats: int) -> list[Measurement]:
    """Nearest-neighbour search over 100,000 clustered vectors of 64 d, 1,000 queries, one thread
    each: our HNSW against hnswlib (M = 16, ef_construction = 100, ef = 64) and our IVF-PQ
    against faiss's IndexIVFPQ (256 cells, 16 bytes per vector, nprobe = 16), searches and builds."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from landmarks.ann import HNSWIndex, IVFPQIndex, recall_at_k
    from landmarks.ann.data import clustered_gaussians
    from landmarks.ann.exact import ExactIndex
    from landmarks.papers.ann import faiss_ivfpq, hnswlib_index

    data = clustered_gaussians(np.random.default_rng(0), 101_000, 64)
    queries, base = data[:1000], data[1000:]
    rows: list[Measurement] = []
    with threadpool_limits(1):
        exact = ExactIndex(64)
        exact.add(base)
        _, truth = exact.search(queries, 10)

        def pair(what, label, theirs_build, ours_build, theirs_search, ours_search):  # type: ignore[no-untyped-def]
            began = time.perf_counter()
            theirs = theirs_build()
            theirs_seconds = time.perf_counter() - began
            began = time.perf_counter()
            ours = ours_build()
            ours_seconds = time.perf_counter() - began
            rows.append(
                Measurement(
                    "ann", f"{what}: build over 100,000 × 64", label, theirs_seconds, "ours", ours_seconds
                )
            )
            t = timed(lambda: theirs_search(theirs), repeats, warmup=1)
            o = timed(lambda: ours_search(ours), repeats, warmup=1)
            extra = {
                f"{label}_recall_at_10": recall_at_k(theirs_search(theirs), truth),
                "ours_recall_at_10": recall_at_k(ours_search(ours), truth),
                f"{label}_queries_per_second": len(queries) / t,
                "ours_queries_per_second": len(queries) / o,
                "threads": 1,
            }
            rows.append(Measurement("ann", f"{what}: 1,000 queries, k = 10", label, t, "ours", o, extra))

        def our_hnsw() -> HNSWIndex:
            index = HNSWIndex(64, M=16, ef_construction=100, ef=64)
            index.add(base)
            return index

        def their_hnsw() -> object:
            index = hnswlib_index(base, 16, 100)
            index.set_ef(64)
            return index

        def our_ivfpq() -> IVFPQIndex:
            index = IVFPQIndex(64, nlist=256, m=16, nprobe=16)
            index.add(base)
            return index

        def their_ivfpq() -> object:
            index, _ = faiss_ivfpq(base, 256, 16)
            index.nprobe = 16
            return index

        HNSWIndex(64).add(base[:2])  # compile numba's kernels (or load its cache) before timing
        searches = [
            ("HNSW", "hnswlib", their_hnsw, our_hnsw, lambda i: i.knn_query(queries, 10)[0]),
            ("IVF-PQ", "faiss", their_ivfpq, our_ivfpq, lambda i: i.search(queries, 10)[1]),
        ]
        for what, label, theirs, ours, theirs_search in searches:
            try:
                pair(what, label, theirs, ours, theirs_search, lambda i: i.search(queries, 10)[1])
            except ImportError:  # the reference library is not installed
                continue
    return rows


BENCHMARKS: dict[str, Callable[[int], list[Measurement]]] = {
    "bpe": bench_bpe,
    "embeddings": bench_embeddings,
    "ann": bench_ann,
    "metrics": bench_metrics,
    "attention": bench_attention,
    "recurrent": bench_recurrent,
    "scan": bench_scan,
    "lm-training": bench_lm_training,
    "kv-cache": bench_kv_cache,
    "transformer-vs-rnnsearch": bench_transformer_vs_rnnsearch,
    "vision": bench_vision,
    "vision-transformers": bench_vision_transformers,
    "optimizer": bench_optimizer,
}


def run_benchmarks(names: list[str], repeats: int = 5, out: Path | None = None) -> list[Measurement]:
    """Run the named benchmarks (all when empty), print a table, write ``bench.json``."""
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise UserInputError(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    if repeats < 1:
        raise UserInputError(f"--repeats must be >= 1, got {repeats}")
    rows: list[Measurement] = []
    for name in names or list(BENCHMARKS):
        rows.extend(BENCHMARKS[name](repeats))  # generate() runs under no_grad itself
    _print(rows)
    if out is not None:
        info = {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "repeats": repeats,
            "results": [r.to_json() for r in rows],
        }
        atomic_write_text(out, json.dumps(info, indent=2) + "\n")
    return rows


# The images-per-second keys of ``extra`` that the table's notes show, side by side.
_IMAGE_RATES = (
    ("channels_last", "channels-last"),
    ("contiguous", "contiguous"),
    ("fused", "fused"),
    ("explicit", "explicit"),
)


def _print(rows: list[Measurement]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"landmarks bench: torch {torch.__version__}, {torch.get_num_threads()} threads, median of repeats",
        title_justify="left",
    )
    for col in ("benchmark", "what", "A", "ms", "B", "ms ", "B / A", "notes"):
        table.add_column(col)
    for r in rows:
        notes = ""
        if "reached" in r.extra and not r.extra["reached"]:
            notes = f"never reached it (final BLEU {r.extra['transformer_final_bleu']:.1f})"
        rates = [(label, r.extra.get(f"images_per_second_{key}")) for key, label in _IMAGE_RATES]
        if any(rate is not None for _, rate in rates):
            notes = "images/s: " + ", ".join(
                f"{rate:.0f} {label}" for label, rate in rates if rate is not None
            )
        if "mfu" in r.extra:
            notes = f"MFU {r.extra['mfu']:.0%} ({r.extra['model_gflops']:.0f} of {r.extra['matmul_gflops']:.0f} GFLOP/s)"
        table.add_row(
            r.benchmark,
            r.what,
            r.a_label,
            f"{r.a_seconds * 1e3:.1f}",
            r.b_label,
            f"{r.b_seconds * 1e3:.1f}",
            f"{r.ratio:.2f}",
            notes,
        )
    Console(width=200).print(table)
