"""Scalable Pre-training of Large Autoregressive Image Models (El-Nouby et al., 2024).

AIM pre-trains a Vision Transformer the way a language model is pre-trained: an image is cut
into K patches in raster order, x_1 … x_K, and the model predicts each patch from the ones before
it (Sec. 3, Eq. 1-2),

    P(x) = ∏_k P(x_k | x_<k),        L = 1/(K − P) · Σ_{k > P} ‖ x̂_k(x_<k; θ) − x̃_k ‖²

a regression on *normalized* pixels: x̃_k is patch k with its own mean and variance taken out
(as MAE does), and the loss runs over the patches after a prefix of P patches. The trunk is the
shared ViT (``landmarks.nn.vit``) with no class token, fixed 2-D sin-cos positions and
*prefix-causal* attention: the first P patches, P drawn uniformly per image, attend each other
bidirectionally, the rest causally (Sec. 3, "Prefix Transformer"). The loss is not taken on the
prefix, so the model learns to read a bidirectional context, and downstream, where the whole
image is the prefix, its features keep working with bidirectional attention. A heavy MLP head on
each patch (here two residual MLP blocks) does the pixel prediction, so the trunk's last features
need not specialize in pixels (Sec. 3, "Prediction heads").

The features are read by an *attentive probe* (Sec. 4, App.): the trunk frozen, one learned query
cross-attends its patch tokens, and a linear layer classifies the result.

``reproduce`` pre-trains a toy AIM on the procedural shapes (their labels unseen) and, at
checkpoints spaced evenly through pre-training (the first one the random initialization),
measures the held-out pre-training loss and trains a fresh attentive probe on labelled images.
It then states the paper's three findings on those numbers: probe accuracy rises as pre-training
loss falls (Fig. 1, Fig. 4), AIM features beat random ones by far, and the prefix-trained trunk
loses nothing when the probe reads it with bidirectional attention (Table 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.engine import decay_groups, top1_accuracy
from landmarks.nn.attention import scaled_dot_product_attention
from landmarks.nn.vit import VisionTransformer, ViTConfig
from landmarks.registry import Card, ClaimSpec

if TYPE_CHECKING:
    from landmarks.engine import Run

__all__ = [
    "AIM",
    "CARD",
    "PRESETS",
    "AttentiveProbe",
    "Config",
    "PredictionHead",
    "aim_loss",
    "normalized_patches",
    "reproduce",
    "spearman",
]

USES_DATA_DIR = True  # --data-dir: CIFAR-10's binary batches instead of the procedural shapes

CARD = Card(
    citation=(
        "Alaaeldin El-Nouby, Michal Klein, Shuangfei Zhai, Miguel Angel Bautista, Alexander Toshev, "
        "Vaishaal Shankar, Joshua M. Susskind, Armand Joulin. Scalable Pre-training of Large "
        "Autoregressive Image Models. ICML 2024 (arXiv:2401.08541)."
    ),
    takeaways=[
        "Pre-train a ViT like a language model: predict each image patch, in raster order, from "
        "the patches before it, by regression on per-patch normalized pixels.",
        "The pre-training loss tracks downstream quality: as it falls, a probe on the frozen "
        "features gets more accurate, so the loss can be used to choose models.",
        "Prefix-causal attention in pre-training (a bidirectional prefix, no loss on it) lets the "
        "frozen trunk be read with ordinary bidirectional attention downstream.",
    ],
    claims=[
        ClaimSpec(
            "Spearman correlation, across pre-training checkpoints (the first one the random "
            "initialization), between held-out pre-training loss and attentive-probe test accuracy",
            "<= -0.8",
            "Fig. 1 (left) and Fig. 4: the pre-training objective correlates with downstream "
            "accuracy (the average over 15 benchmarks) through training and across model sizes",
        ),
        ClaimSpec(
            "attentive-probe test accuracy on the pre-trained AIM trunk minus on the same trunk at "
            "its random initialization, percentage points",
            ">= 20",
            "Table 6-7: AIM-0.6B's frozen trunk reaches 78.5 % on ImageNet with an attentive probe; "
            "a random trunk gives far less",
        ),
        ClaimSpec(
            "prefix-pre-trained trunk: probe accuracy with bidirectional attention minus with causal "
            "attention at probe time, percentage points",
            ">= -1",
            "Table 3 (prefix vs causal): a causally pre-trained trunk loses accuracy when read "
            "bidirectionally; the prefix-pre-trained one does not, and is best read bidirectionally",
        ),
    ],
    keeps=[
        "next-patch regression on per-patch normalized pixels, raster order, loss on the patches "
        "after a prefix drawn uniformly per image (Sec. 3)",
        "the trunk: the shared ViT with no class token, fixed 2-D sin-cos positions and "
        "prefix-causal attention; the prediction head: residual MLP blocks applied to each patch, "
        "then a linear map to the patch's pixels",
        "the attentive probe: the trunk frozen, one learned query cross-attending its final patch "
        "features, a linear classifier, trained from scratch at each checkpoint",
        "the paper's measurement of Fig. 1 and 4 in one run: loss and probe accuracy side by side "
        "through pre-training",
    ],
    shrinks=[
        "2 B web images (DFN-2B+) and ImageNet → 20 k procedural 32×32 images (their labels unseen in "
        "pre-training), 5 k of them labelled for the probe; 2 k held out",
        "AIM-0.6B to 7B (24-32 blocks, width 1536-4096, patches of 14) → 6 blocks of 64, 4 heads, "
        "patches of 4 pixels (an 8×8 grid), a head of two MLP blocks: about 0.27 M parameters "
        "(0.20 M in the trunk)",
        "500 k pre-training steps of about 4 k images (about 2 B images seen) → 800 steps of 128; "
        "the probe: 600 steps of 256",
        "15 downstream benchmarks → the procedural set's 10 classes",
    ],
    figures={
        "Fig. 1 (left)": "pre-training validation loss against average probe accuracy over 15 "
        "benchmarks: as the loss falls from about 0.345 to 0.325, accuracy rises from about 70 % "
        "to 77 %, for models of 0.6 B to 7 B parameters",
        "Fig. 4": "the same relation through pre-training of one model, checkpoint by checkpoint",
        "Table 3": "prefix vs causal attention in pre-training, read causally or bidirectionally downstream",
        "Table 7": "AIM-7B: 84.0 % top-1 on ImageNet with a frozen trunk and an attentive probe",
    },
    notes=(
        "The probe is trained to convergence at every checkpoint (600 steps of 256 at 3e-3, the same "
        "start and batches each time): in development, 300 steps at 1e-3 left it near 15 % on any "
        "features, raw pixels included, where trained longer it reaches 33 % on raw pixels, so it "
        "measured the probe rather than the features. Over seeds 0-2 (per seed in RESULTS.md) the "
        "next-patch loss falls from about 1.3-1.5 at initialization to about 0.25 after 800 steps, "
        "but the probe's accuracy on the final features stays about where it starts, roughly "
        "25-35 % at the trained checkpoints against about 30 % on the random trunk, and ends within "
        "a few points of it; in development (seed 0), probes on the earlier blocks (29.7-33.7 %) did "
        "no better than the one on raw pixels (33 %). At 0.27 M parameters and 800 steps the trunk "
        "learns to continue backgrounds and edges, which lowers the loss, but not the shapes, which "
        "the probe needs: the paper's link between the two (Fig. 1, 4) comes from models of 0.6 to "
        "7 B parameters trained on billions of images. Claims are stated as measured."
    ),
)


# ---- the objective ------------------------------------------------------------------------------


def normalized_patches(images: Tensor, patch_size: int, eps: float = 1e-6) -> Tensor:
    """(B, C, H, W) → (B, N, C·P·P): each patch's pixels in the ViT's row-major order, minus the
    patch's own mean, over its own standard deviation (the normalized-pixel targets of Sec. 3)."""
    b, c, _, _ = images.shape
    p = patch_size
    x = images.unfold(2, p, p).unfold(3, p, p)  # (B, C, H/P, W/P, P, P)
    x = x.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * p * p)
    mean, var = x.mean(dim=-1, keepdim=True), x.var(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / (var + eps).sqrt()


class PredictionHead(nn.Module):
    """Applied to each patch on its own: ``blocks`` residual MLP blocks (pre-LN, width 4·D),
    then a linear map to the patch's C·P·P pixels."""

    def __init__(self, d_model: int, out: int, blocks: int = 2) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(d_model),
                nn.Linear(d_model, 4 * d_model),
                nn.GELU(),
                nn.Linear(4 * d_model, d_model),
            )
            for _ in range(blocks)
        )
        self.norm = nn.LayerNorm(d_model)
        self.proj = nn.Linear(d_model, out)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = x + block(x)
        return self.proj(self.norm(x))


class AIM(nn.Module):
    """The trunk (a prefix-causal ViT with no class token) and the pixel head."""

    def __init__(self, cfg: ViTConfig, head_blocks: int = 2) -> None:
        super().__init__()
        if cfg.class_token or cfg.attention != "prefix_causal" or cfg.num_classes:
            raise ValueError("AIM's trunk has no class token, no classifier and prefix-causal attention")
        self.trunk = VisionTransformer(cfg)
        self.head = PredictionHead(cfg.d_model, cfg.in_chans * cfg.patch_size**2, head_blocks)

    def forward(self, images: Tensor, prefix_len: int | Tensor) -> Tensor:
        """(B, C, H, W) → (B, N, C·P·P): at position k, the prediction of patch k + 1."""
        return self.head(self.trunk.forward_features(images, prefix_len))


def aim_loss(model: AIM, images: Tensor, prefix_len: Tensor) -> Tensor:
    """Eq. 2: the mean squared error of each next-patch prediction against the normalized patch,
    over the patches after each image's prefix (output k predicts patch k + 1; the outputs inside
    the prefix see the whole prefix, so predicting a prefix patch from them would be copying)."""
    cfg = model.trunk.cfg
    targets = normalized_patches(images, cfg.patch_size)  # (B, N, C·P·P)
    predictions = model(images, prefix_len)[:, :-1]  # outputs 0 … N−2 predict patches 1 … N−1
    n = targets.shape[1]
    position = torch.arange(1, n, device=images.device)  # the patch each output predicts
    scored = position[None, :] >= prefix_len.reshape(-1, 1)  # (B, N−1): patches after the prefix
    error = (predictions - targets[:, 1:]).pow(2).mean(dim=-1)  # (B, N−1)
    return (error * scored).sum() / scored.sum().clamp_min(1)


# ---- the attentive probe ------------------------------------------------------------------------


class AttentiveProbe(nn.Module):
    """One learned query cross-attends the frozen patch features (multi-head, on the shared
    attention), then LayerNorm and a linear classifier: softmax(q Kᵀ/√d) V → W."""

    def __init__(self, d_model: int, n_head: int, num_classes: int) -> None:
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"d_model={d_model} is not divisible by n_head={n_head}")
        self.n_head = n_head
        self.query = nn.Parameter(torch.zeros(1, 1, d_model))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.norm_in = nn.LayerNorm(d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm_out = nn.LayerNorm(d_model)
        self.classifier = nn.Linear(d_model, num_classes)

    def forward(self, features: Tensor) -> Tensor:
        """(B, N, D) patch features → (B, num_classes) logits; the order of the patches does not matter."""
        b, n, d = features.shape
        h = self.n_head
        k, v = self.kv(self.norm_in(features)).view(b, n, 2, h, d // h).permute(2, 0, 3, 1, 4)
        q = self.query.expand(b, -1, -1).view(b, 1, h, d // h).transpose(1, 2)  # (B, h, 1, d/h)
        pooled, _ = scaled_dot_product_attention(q, k, v)  # (B, h, 1, d/h)
        pooled = pooled.transpose(1, 2).reshape(b, d)
        return self.classifier(self.norm_out(self.proj(pooled)))


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (ties share their mean rank)."""
    from scipy.stats import spearmanr

    if len(x) < 3:
        return math.nan
    return float(spearmanr(x, y).statistic)


# ---- the experiment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    n_pretrain: int = 20_000  # unlabelled images for pre-training
    n_probe: int = 5_000  # labelled images the probe trains on (a subset of the pre-training images)
    n_test: int = 2_000
    patch_size: int = 4
    d_model: int = 64
    depth: int = 6
    n_head: int = 4
    mlp_ratio: float = 2.0
    head_blocks: int = 2
    steps: int = 800
    batch: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 80
    checkpoints: int = 8  # probes at steps/8, 2·steps/8, …, steps, besides the random initialization
    probe_steps: int = 600
    probe_batch: int = 256
    probe_lr: float = 3e-3

    def validate(self) -> None:
        for name in (
            "n_pretrain", "n_probe", "n_test", "patch_size", "d_model", "depth", "n_head", "head_blocks",
            "steps", "batch", "checkpoints", "probe_steps", "probe_batch",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_probe > self.n_pretrain:
            raise ValueError(f"n_probe={self.n_probe} must be <= n_pretrain={self.n_pretrain} (a subset)")
        if self.n_test < 10:
            raise ValueError(f"n_test must be >= 10 (one image per class), got {self.n_test}")
        if self.checkpoints < 2 or self.steps < self.checkpoints:
            raise ValueError(
                f"need 2 <= checkpoints <= steps (a Spearman correlation over at least 3 points, the "
                f"random initialization included), got checkpoints={self.checkpoints}, steps={self.steps}"
            )
        if not 0 <= self.warmup < self.steps:
            raise ValueError(f"warmup must lie in [0, steps={self.steps}), got {self.warmup}")
        if not (self.lr > 0 and self.probe_lr > 0 and self.weight_decay >= 0):
            raise ValueError("lr and probe_lr must be > 0 and weight_decay >= 0")
        self.trunk().validate()
        if self.trunk().num_patches < 2:
            raise ValueError(
                f"patch_size={self.patch_size} leaves fewer than 2 patches to predict one from another"
            )

    def trunk(self) -> ViTConfig:
        return ViTConfig(
            image_size=32,
            patch_size=self.patch_size,
            num_classes=0,
            d_model=self.d_model,
            depth=self.depth,
            n_head=self.n_head,
            mlp_ratio=self.mlp_ratio,
            class_token=False,
            positions="sincos",
            attention="prefix_causal",
            pooling="avg",
        )


PRESETS = {
    "default": Config(),
    "quick": Config(
        n_pretrain=64,
        n_probe=32,
        n_test=20,
        patch_size=8,
        d_model=16,
        depth=2,
        n_head=2,
        head_blocks=1,
        steps=4,
        batch=8,
        warmup=1,
        checkpoints=2,
        probe_steps=3,
        probe_batch=16,
    ),
}


@torch.no_grad()
def _features(trunk: VisionTransformer, images: Tensor, prefix_len: int, chunk: int = 500) -> Tensor:
    """The trunk's final patch features (after its norm), (B, N, D), with the first ``prefix_len``
    patches as prefix: ``num_patches`` reads the image bidirectionally, 0 causally."""
    was_training = trunk.training
    trunk.eval()
    out = torch.cat(
        [trunk.forward_features(images[i : i + chunk], prefix_len) for i in range(0, len(images), chunk)]
    )
    trunk.train(was_training)
    return out


def _train_probe(
    cfg: Config,
    train: Tensor,
    y_train: Tensor,
    test: Tensor,
    y_test: Tensor,
    num_classes: int,
    g: torch.Generator,
) -> float:
    """Train a fresh attentive probe on frozen features; its test accuracy."""
    probe = AttentiveProbe(train.shape[-1], cfg.n_head, num_classes).to(train.device)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=cfg.probe_lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.probe_steps)
    with torch.enable_grad():
        for _ in range(cfg.probe_steps):
            idx = torch.randint(len(train), (cfg.probe_batch,), generator=g).to(train.device)
            loss = F.cross_entropy(probe(train[idx]), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    probe.eval()
    return top1_accuracy(probe, test, y_test)


def reproduce(cfg: Config, run: Run) -> None:
    from landmarks.data.shapes import load_image_set, standardize
    from landmarks.engine import fit, warmup_cosine
    from landmarks.engine.seeding import derive_seed

    cfg.validate()
    data = load_image_set(run.data_dir, cfg.n_pretrain, cfg.n_test, run.seed, cache_dir=run.out / "data")
    run.log(
        f"{data.source}: {len(data.y_train)} pre-training images ({cfg.n_probe} with labels for the probe)"
    )
    train01 = data.x_train.float() / 255
    mean, std = train01.mean((0, 2, 3)), train01.std((0, 2, 3))
    x_train = standardize(data.x_train, mean, std)  # AIM sees standardized images; targets are per patch
    x_test = standardize(data.x_test, mean, std).to(run.device)
    x_probe, y_probe = x_train[: cfg.n_probe].to(run.device), data.y_train[: cfg.n_probe].to(run.device)
    y_test = data.y_test.to(run.device)

    torch.manual_seed(derive_seed(run.seed, run.paper, "init"))
    model = AIM(cfg.trunk(), cfg.head_blocks).to(run.device)
    n_patches = model.trunk.num_patches
    # held-out loss: one fixed prefix length per test image, drawn as in training
    test_prefix = torch.randint(1, n_patches, (len(x_test),), generator=run.generator("test-prefix")).to(
        run.device
    )

    def batch_fn(step: int) -> tuple[Tensor, Tensor]:
        g = run.generator("batch", step)
        idx = torch.randint(len(x_train), (cfg.batch,), generator=g)
        prefix = torch.randint(1, n_patches, (cfg.batch,), generator=g)  # P ~ U{1, …, N−1} per image
        return x_train[idx].to(run.device), prefix.to(run.device)

    def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        images, prefix = batch
        return aim_loss(net, images, prefix)  # type: ignore[arg-type]

    @torch.no_grad()
    def held_out_loss(net: AIM) -> float:
        was_training = net.training
        net.eval()
        total = sum(
            float(aim_loss(net, x_test[i : i + 500], test_prefix[i : i + 500])) * len(x_test[i : i + 500])
            for i in range(0, len(x_test), 500)
        )
        net.train(was_training)
        return total / len(x_test)

    def evaluate(net: nn.Module, mode: str = "bidirectional") -> dict[str, float]:
        assert isinstance(net, AIM)
        prefix = n_patches if mode == "bidirectional" else 0
        g = run.generator("probe")  # every checkpoint's probe: the same start and the same batches
        accuracy = _train_probe(
            cfg,
            _features(net.trunk, x_probe, prefix),
            y_probe,
            _features(net.trunk, x_test, prefix),
            y_test,
            data.num_classes,
            g,
        )
        loss = held_out_loss(net)
        run.log(f"checkpoint: held-out loss {loss:.4f}, {mode} probe test accuracy {accuracy:.3f}")
        return {"held_out_loss": loss, "probe_accuracy": accuracy}

    start = {"step": 0, **evaluate(model)}  # the random initialization
    optimizer = torch.optim.AdamW(decay_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))

    history = fit(
        run,
        "aim",
        model,
        optimizer,
        steps=cfg.steps,
        batch_fn=batch_fn,
        loss_fn=loss_fn,
        scheduler=warmup_cosine(optimizer, cfg.warmup, cfg.steps),
        eval_fn=evaluate,
        eval_every=max(1, cfg.steps // cfg.checkpoints),
    )
    # on --resume, fit gives back the evaluations it already made: read every one from the history
    points = [start] + [
        {"step": e["step"], "held_out_loss": e["held_out_loss"], "probe_accuracy": e["probe_accuracy"]}
        for e in history.evals
    ]
    run.metric("checkpoints", points)
    run.metric("pretrain_seconds", round(history.seconds, 2))
    causal = evaluate(model, "causal")["probe_accuracy"]
    bidirectional = points[-1]["probe_accuracy"]
    run.metric("probe_accuracy", {"bidirectional": bidirectional, "causal": causal})
    run.log(f"final probe: bidirectional {bidirectional:.3f}, causal {causal:.3f}")

    losses, accuracies = [p["held_out_loss"] for p in points], [p["probe_accuracy"] for p in points]
    run.check(CARD.claims[0], round(spearman(losses, accuracies), 4))
    run.check(CARD.claims[1], round(100 * (bidirectional - points[0]["probe_accuracy"]), 2))
    run.check(CARD.claims[2], round(100 * (bidirectional - causal), 2))
    _plot(run, points, history.loss)


def _plot(run: Run, points: list[dict[str, float]], train_loss: list[float]) -> None:
    from landmarks.plots import plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    ax.plot(range(1, len(train_loss) + 1), train_loss, color="C0", lw=0.8, label="training batches")
    ax.plot(
        [p["step"] for p in points[1:]],
        [p["held_out_loss"] for p in points[1:]],
        "o-",
        color="C1",
        label="held out",
    )
    ax.set_xlabel("pre-training step")
    ax.set_ylabel("next-patch loss (normalized pixels)")
    ax.set_title("Pre-training loss")
    ax.legend()
    losses = [p["held_out_loss"] for p in points]
    accuracies = [100 * p["probe_accuracy"] for p in points]
    bx.plot(losses, accuracies, "-", color="grey", lw=0.8)
    sc = bx.scatter(losses, accuracies, c=[p["step"] for p in points], cmap="viridis", zorder=3)
    fig.colorbar(sc, ax=bx, label="pre-training step")
    bx.invert_xaxis()
    bx.set_xlabel("held-out pre-training loss (falling →)")
    bx.set_ylabel("attentive probe test accuracy, %")
    bx.set_title("Probe accuracy against pre-training loss (Fig. 1, 4)")
    run.save_figure(
        fig,
        "aim",
        "Left: AIM's next-patch loss through pre-training. Right: at each checkpoint (the first the random "
        "initialization), the held-out loss against the test accuracy of an attentive probe on the frozen trunk",
    )
