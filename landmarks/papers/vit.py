"""An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale (Dosovitskiy et
al., 2021), read with "What do Vision Transformers Learn? A Visual Exploration" (Ghiasi et al.,
2022).

A ViT cuts an image into patches, maps each to a token and runs a Transformer encoder over them
(``landmarks.nn.vit``, shared with ``vit-registers``, ``aim`` and ``no-zero-shot``; timm's
state dicts load into it with identical logits, tested). It has less of a ConvNet's inductive
bias (locality, translation equivariance), so it needs more data: below ~100 M images a ResNet
wins, above it ViT does (Sec. 4.2, Fig. 3-4). What it learns instead shows in its attention:
some heads attend locally in the first layers and others globally, and the mean attention
distance grows with depth (Fig. 7). Ghiasi et al. (Sec. 6) add that patch tokens keep their
spatial information through every layer but the last: a classifier trained on the class token
lets the patch tokens of the final block forget what they were.

``reproduce`` trains a small ViT and a ResNet of about the same parameter count (0.21 M and
0.23 M: the ResNet at the width closest to the ViT's count), with one recipe and the same
batches, on 4 k and on 40 k images of the procedural shapes set, and measures:

1. the mean attention distance per head and block of the ViT trained on 40 k images (Fig. 7);
2. test accuracy of both models at both set sizes: the ResNet's lead at 4 k, and how it changes
   at 40 k (Sec. 4.2);
3. a linear probe (ridge regression) from each block's patch tokens to the pixels of the token's
   own patch, on held-out images (Ghiasi et al. Sec. 6);
4. ViT-B/16's parameter count, from ``vit_base_patch16_224`` on the meta device (Table 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.engine import decay_groups, top1_accuracy
from landmarks.nn.counting import count_params
from landmarks.nn.vit import (
    VisionTransformer,
    ViTConfig,
    mean_attention_distance,
    patch_distances,
    vit_base_patch16_224,
    vit_large_patch16_224,
    vit_small_patch16_224,
    vit_tiny_patch16_224,
)
from landmarks.registry import Card, ClaimSpec

if TYPE_CHECKING:
    from landmarks.engine import Run

__all__ = [
    "CARD",
    "PRESETS",
    "Config",
    "patch_pixels",
    "probe_r2",
    "reproduce",
    "vit_base_patch16_224",
    "vit_large_patch16_224",
    "vit_small_patch16_224",
    "vit_tiny_patch16_224",
]

CARD = Card(
    citation=(
        "Alexey Dosovitskiy, Lucas Beyer, Alexander Kolesnikov, Dirk Weissenborn, Xiaohua Zhai, Thomas "
        "Unterthiner, Mostafa Dehghani, Matthias Minderer, Georg Heigold, Sylvain Gelly, Jakob Uszkoreit, "
        "Neil Houlsby. An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale. ICLR "
        "2021 (arXiv:2010.11929). Amin Ghiasi, Hamid Kazemi, Eitan Borgnia, Steven Reich, Manli Shu, "
        "Micah Goldblum, Andrew Gordon Wilson, Tom Goldstein. What do Vision Transformers Learn? A Visual "
        "Exploration. arXiv:2212.06727, 2022."
    ),
    takeaways=[
        "An image is a sequence of patch tokens; a plain Transformer encoder classifies it.",
        "With less built-in bias than a ConvNet, a ViT needs more data: small sets favour the ResNet.",
        "Attention reaches further with depth: early heads mix local and global, late heads are global.",
        "Patch tokens carry their patch's content up the network until the last block.",
    ],
    claims=[
        ClaimSpec(
            "ViT trained on the large set: mean attention distance of the last block over the first's "
            "(means over heads)",
            ">= 1.5",
            "Dosovitskiy et al. Fig. 7: attention distance grows with depth; early layers hold both local "
            "and global heads, later ones are global",
        ),
        ClaimSpec(
            "Smallest set: the ResNet's test accuracy minus the ViT's, the ResNet at the width whose "
            "parameter count is closest to the ViT's (0.23 M against 0.21 M) (points)",
            "> 0",
            "Dosovitskiy et al. Sec. 4.2 (Fig. 3): on smaller data ViT overfits more than a ResNet of "
            "comparable cost",
        ),
        ClaimSpec(
            "The ResNet's lead at the smallest set minus its lead at the largest (points)",
            "> 0",
            "Dosovitskiy et al. Sec. 4.2 (Fig. 4): ViT gains more from more data; the gap closes",
        ),
        ClaimSpec(
            "Linear probe from a patch token to its own patch's pixels, held-out R²: the last block's "
            "over the block before it",
            "< 0.9",
            "Ghiasi et al. Sec. 6: patch tokens keep their spatial information through every layer but the last",
        ),
        ClaimSpec(
            "ViT-B/16 (timm-compatible, 1000 classes) parameters, millions, counted",
            "in [86.5, 86.7]",
            "Dosovitskiy et al. Table 1: ViT-Base 86 M; timm's vit_base_patch16_224: 86.6 M",
        ),
    ],
    keeps=[
        "the ViT of Sec. 3.1: convolutional patch embedding, class token, learned positions, pre-LN "
        "blocks, the class token's state to a linear head (timm's layout and names)",
        "the comparison of Sec. 4.2 turned around: one ViT and one ResNet of about equal parameters, the "
        "same recipe (AdamW, warm-up and cosine, label smoothing, crops and flips) and the same "
        "batches, trained on a small and a ten times larger set",
        "Fig. 7's measure: per head, the attention-weighted distance in pixels between a query patch "
        "and the patches it attends, averaged over queries and held-out images",
    ],
    shrinks=[
        "32×32 images of the procedural shapes set (10 classes), patches of 4 pixels (an 8×8 grid) "
        "instead of 224² ImageNet/JFT images with patches of 16",
        "a ViT of 6 blocks of 64 (4 heads, MLP 128) and the ResNet baseline of the ConvNeXt ladder "
        "(bottleneck stages) at the closest width: 229,180 parameters against the ViT's 208,970 "
        "(one channel narrower gives 186,265); ViT-B has 86.6 M",
        "4 k and 40 k training images (the paper: 1.3 M to 303 M), the same number of steps for "
        "every run, so the larger set is seen for fewer epochs",
    ],
    figures={
        "Dosovitskiy et al., Fig. 7 (right)": "mean attention distance per head against depth, ViT-L/16: "
        "early layers from ~10 to ~120 pixels, late layers ~120 px",
        "Dosovitskiy et al., Fig. 3-4": "ViT below BiT ResNets on ImageNet-sized data, above them with "
        "JFT-300M; on subsets of JFT, ResNets win at 9 M images and ViT at 90 M+",
        "Dosovitskiy et al., Table 1": "ViT-Base: 12 layers, D = 768, MLP 3072, 12 heads, 86 M parameters",
        "Ghiasi et al., Sec. 6": "patch tokens keep spatial information in every layer but the last",
        "Ghiasi et al., Figs. 1-3": "activation maximization of the MLP's hidden neurons: edges and "
        "textures early, object parts and objects late",
    },
    notes=(
        "The budget (about 4 minutes for four trainings on a normal-speed host; 6 to 7 minutes on "
        "the slow AMD host) leaves the toy ViT far from converged: 41 to 44 % test accuracy after "
        "400 steps of 128 images, training error about 0.54, where the ResNet of about the same "
        "size is at 44 to 50 %. Tried in development, all on the 40 k set: "
        "learned or fixed 2-D sin-cos positions, 4 or 6 blocks, learning rates 2e-3 and 3e-3, with "
        "and without label smoothing, crops and weight decay, patches of 4 and of 8 pixels, and up "
        "to 4000 steps (about 6 minutes on one thread, 56 % test accuracy). In every one of them "
        "the mean attention distance of every block stayed within 1 pixel of what uniform "
        "attention gives (16.5 pixels on the 8×8 grid of 4-pixel patches, reported beside as "
        "uniform_distance_px): the early blocks never turned local, which is what Fig. 7's growth "
        "with depth rests on. In the paper the local heads come from pre-training on 14 M to 300 M "
        "images. Claims are stated as measured; the verdicts and seconds of each seed are in "
        "RESULTS.md (on a normal-speed host a run took 210 to 285 s; on the slow hosts of "
        "2026-11-27 to 29, 310 to 450 s). The ResNet has 9.7 % more parameters than the ViT, the "
        "nearest the width allows; a narrower ResNet was not run, so how much of its lead on the "
        "small set that buys is not measured. "
        "The activation-maximization pictures are for looking at, not a claim."
    ),
)


@dataclass(frozen=True)
class Config:
    small_set: int = 4_000
    large_set: int = 40_000
    n_test: int = 2_000
    patch_size: int = 4
    d_model: int = 64
    depth: int = 6
    n_head: int = 4
    mlp_ratio: float = 2.0
    positions: str = "learned"  # or "sincos": fixed 2-D sin-cos positions (Dosovitskiy et al. App. D.4)
    steps: int = 400  # per run, the same for both set sizes (the budget: about 4 minutes for four runs)
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 60
    label_smoothing: float = 0.1
    crop_padding: int = 2
    flip: bool = True
    probe_images: int = 400  # held-out images for the attention distance and the probe (half fit, half test)
    ridge: float = 1e-2  # the probe's L2 penalty, relative to the features' mean square
    actmax_neurons: int = 4  # per block shown (first, middle, last): MLP neurons drawn at random
    actmax_steps: int = 100  # Adam steps of activation maximization, 8 augmentations each

    def validate(self) -> None:
        for name in ("small_set", "large_set", "n_test", "patch_size", "d_model", "depth", "n_head"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("steps", "batch", "probe_images", "actmax_neurons", "actmax_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 10 <= self.small_set < self.large_set:
            raise ValueError(
                f"need 10 <= small_set < large_set (one image per class at least), got {self.small_set}, "
                f"{self.large_set}"
            )
        if self.depth < 2:
            raise ValueError(
                f"depth must be >= 2: the claims compare the first and last blocks, got {self.depth}"
            )
        if self.probe_images < 4 or self.probe_images > self.n_test:
            raise ValueError(f"probe_images must lie in [4, n_test={self.n_test}], got {self.probe_images}")
        self.vit_config(10).validate()  # 32×32 images: the patch size must divide 32
        if not self.lr > 0 or self.weight_decay < 0 or self.ridge <= 0:
            raise ValueError("lr and ridge must be > 0 and weight_decay >= 0")
        if not 0 <= self.warmup < self.steps:
            raise ValueError(f"warmup must lie in [0, steps={self.steps}), got {self.warmup}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0 (0: no crop), got {self.crop_padding}")

    def vit_config(self, num_classes: int) -> ViTConfig:
        return ViTConfig(
            image_size=32,
            patch_size=self.patch_size,
            num_classes=num_classes,
            d_model=self.d_model,
            depth=self.depth,
            n_head=self.n_head,
            mlp_ratio=self.mlp_ratio,
            positions=self.positions,  # type: ignore[arg-type]
        )


PRESETS = {
    "default": Config(),
    "quick": Config(
        small_set=40,
        large_set=80,
        n_test=40,
        patch_size=8,
        d_model=16,
        depth=2,
        n_head=2,
        steps=3,
        batch=8,
        warmup=1,
        probe_images=8,
        actmax_neurons=2,
        actmax_steps=2,
    ),
}


# ---- Ghiasi et al. Sec. 6: what a patch token still knows about its patch ------------------------


def patch_pixels(images: Tensor, patch_size: int) -> Tensor:
    """(B, C, H, W) → (B, N, C·P·P): each patch's pixels, patches in the ViT's row-major order."""
    b, c, _, _ = images.shape
    p = patch_size
    x = images.unfold(2, p, p).unfold(3, p, p)  # (B, C, H/P, W/P, P, P)
    return x.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * p * p)


def probe_r2(features: Tensor, targets: Tensor, ridge: float) -> float:
    """Held-out R² of a ridge regression from ``features`` (n, d) to ``targets`` (n, k): fit on
    the first half of the rows, scored on the second (the caller keeps images apart)."""
    n = len(features) // 2
    x, y = features.double(), targets.double()
    mu_x, mu_y = x[:n].mean(0), y[:n].mean(0)
    xf, yf = x[:n] - mu_x, y[:n] - mu_y
    lam = ridge * xf.pow(2).mean() * n
    w = torch.linalg.solve(xf.T @ xf + lam * torch.eye(x.shape[1], dtype=x.dtype), xf.T @ yf)
    pred = (x[n:] - mu_x) @ w + mu_y
    residual = (y[n:] - pred).pow(2).sum()
    total = (y[n:] - y[n:].mean(0)).pow(2).sum()
    return float(1 - residual / total)


# ---- Dosovitskiy et al. Fig. 7 (left) and Ghiasi et al.: what the model looks for --------------


def embedding_components(vit: VisionTransformer, k: int) -> Tensor:
    """Fig. 7 (left): the top ``k`` principal components of the patch-embedding filters, as
    (k, C, P, P) images. The embedding E is (D, C·P·P); its right singular vectors are the
    directions in pixel space it reads most strongly."""
    w = vit.patch_embed.proj.weight.detach().double()  # (D, C, P, P)
    d, c, p, _ = w.shape
    flat = w.reshape(d, c * p * p)
    _, _, vh = torch.linalg.svd(flat - flat.mean(0), full_matrices=False)
    return vh[: min(k, len(vh))].reshape(-1, c, p, p).float()


def total_variation(x: Tensor) -> Tensor:
    """Mean absolute difference between neighbouring pixels of (B, C, H, W): small for smooth images."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def activation_maximization(
    vit: VisionTransformer,
    block: int,
    neurons: Tensor,
    mean: Tensor,
    std: Tensor,
    generator: torch.Generator,
    steps: int = 100,
    ensemble: int = 8,
    lr: float = 0.1,
    tv_weight: float = 0.5,
    jitter: int = 2,
) -> Tensor:
    """Ghiasi et al. Sec. 3: for each of ``neurons`` (indices into the hidden layer of block
    ``block``'s MLP, the layer they found most interpretable), the image that maximizes the
    neuron's mean activation over the patch tokens. Augmentation ensembling: at every step each
    image is seen through ``ensemble`` random augmentations at once (shifts of up to ``jitter``
    pixels, flips, a colour shift and Gaussian noise) and the objective is their mean, so the
    image cannot exploit one exact pixel grid; a total-variation penalty keeps it smooth.
    Returns (len(neurons), C, H, W) images in [0, 1]."""
    from landmarks.data.augment import random_crop, random_flip

    was_training = vit.training
    vit.eval()
    k, size = len(neurons), vit.cfg.image_size
    logits = torch.zeros(k, vit.cfg.in_chans, size, size, device=mean.device)
    logits += 0.1 * torch.randn(logits.shape, generator=generator).to(logits)
    logits.requires_grad_(True)
    optimizer = torch.optim.Adam([logits], lr=lr)
    captured: list[Tensor] = []
    hook = vit.blocks[block].mlp.act.register_forward_hook(lambda _m, _i, out: captured.append(out))
    rows = torch.arange(k, device=mean.device).repeat_interleave(ensemble)  # image of each copy
    mask = vit.attention_mask()
    try:
        for _ in range(steps):
            images = torch.sigmoid(logits)  # pixels in [0, 1]
            x = images[rows]  # (k·ensemble, C, H, W)
            x = random_flip(random_crop(x, jitter, generator), generator)
            shift = torch.randn(len(x), x.shape[1], 1, 1, generator=generator).to(x)
            scale = torch.randn(len(x), x.shape[1], 1, 1, generator=generator).to(x)
            x = x * (1 + 0.1 * scale) + 0.1 * shift + 0.05 * torch.randn(x.shape, generator=generator).to(x)
            captured.clear()
            z = vit.embed((x - mean[:, None, None]) / std[:, None, None])
            for layer in vit.blocks[: block + 1]:  # the blocks above cannot change this one's neurons
                z, _ = layer(z, mask)
            hidden = captured[0][:, vit.patch_slice]  # (k·ensemble, N, hidden)
            activation = hidden[torch.arange(len(x)), :, neurons.to(hidden.device)[rows]].mean()
            loss = -activation + tv_weight * total_variation(images)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        hook.remove()
        vit.train(was_training)
    return torch.sigmoid(logits).detach()


# ---- the experiment -----------------------------------------------------------------------------


def reproduce(cfg: Config, run: Run) -> None:
    from landmarks.data.augment import random_crop, random_flip
    from landmarks.data.shapes import load_image_set, standardize
    from landmarks.engine import fit, warmup_cosine
    from landmarks.engine.seeding import derive_seed
    from landmarks.papers.convnext import ladder_model, match_width

    cfg.validate()
    data = load_image_set(run.data_dir, cfg.large_set, cfg.n_test, run.seed, cache_dir=run.out / "data")
    if len(data.y_train) < cfg.large_set:
        raise ValueError(f"large_set={cfg.large_set} but the data has {len(data.y_train)} training images")
    run.log(f"{data.source}: {cfg.small_set} and {cfg.large_set} training images, {len(data.y_test)} test")
    train01 = data.x_train.float() / 255  # (N, 3, 32, 32) in [0, 1]; the small set is its first images
    mean, std = train01[: cfg.small_set].mean((0, 2, 3)), train01[: cfg.small_set].std((0, 2, 3))
    x_test = standardize(data.x_test, mean, std).to(run.device)
    y_test = data.y_test.to(run.device)

    torch.manual_seed(derive_seed(run.seed, run.paper, "init", "vit"))
    vit_cfg = cfg.vit_config(data.num_classes)
    target = count_params(VisionTransformer(vit_cfg))
    width = match_width(lambda w, num_classes: ladder_model(0, w, num_classes), target, data.num_classes)
    builders = {
        "ViT": lambda: VisionTransformer(vit_cfg),
        "ResNet": lambda: ladder_model(0, width, data.num_classes),
    }

    def make_batches(n: int):  # type: ignore[no-untyped-def]
        def batch_fn(step: int) -> tuple[Tensor, Tensor]:
            g = run.generator("batch", n, step)  # both models see the same images in the same order
            idx = torch.randint(n, (cfg.batch,), generator=g)
            x = random_crop(train01[idx], cfg.crop_padding, g)
            if cfg.flip:
                x = random_flip(x, g)
            x = (x - mean[:, None, None]) / std[:, None, None]
            return x.to(run.device), data.y_train[idx].to(run.device)

        return batch_fn

    def loss_fn(model: nn.Module, batch: tuple[Tensor, Tensor]):  # type: ignore[no-untyped-def]
        x, y = batch
        logits = model(x)
        return F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing), {
            "error": (logits.argmax(1) != y).float().mean()
        }

    def test_accuracy(model: nn.Module) -> float:
        model.eval()
        accuracy = top1_accuracy(model, x_test, y_test)
        model.train()
        return accuracy

    rows: dict[str, dict[str, dict]] = {"ViT": {}, "ResNet": {}}
    trained: dict[str, nn.Module] = {}
    for n in (cfg.small_set, cfg.large_set):
        for name, build in builders.items():
            torch.manual_seed(derive_seed(run.seed, run.paper, "init", name))
            model = build().to(run.device)
            optimizer = torch.optim.AdamW(
                decay_groups(model, cfg.weight_decay, VisionTransformer.no_weight_decay_names), lr=cfg.lr
            )
            history = fit(
                run,
                f"{name.lower()}-{n}",
                model,
                optimizer,
                steps=cfg.steps,
                batch_fn=make_batches(n),
                loss_fn=loss_fn,
                scheduler=warmup_cosine(optimizer, cfg.warmup, cfg.steps),
            )
            errors = history.extra.get("error", [])[-50:]
            rows[name][str(n)] = {
                "parameters": count_params(model),
                "test_accuracy": test_accuracy(model),
                "final_train_error": round(sum(errors) / max(1, len(errors)), 4),
                "seconds": round(history.seconds, 2),
            }
            run.log(
                f"{name} on {n} images: {rows[name][str(n)]['parameters']:,} parameters, test accuracy "
                f"{rows[name][str(n)]['test_accuracy']:.3f}, {history.seconds:.1f} s"
            )
            if n == cfg.large_set and name == "ViT":
                trained[name] = model
    run.metric("models", rows)
    gap = {
        n: 100 * (rows["ResNet"][n]["test_accuracy"] - rows["ViT"][n]["test_accuracy"]) for n in rows["ViT"]
    }
    run.metric("resnet_lead_points", gap)

    vit = trained["ViT"]
    assert isinstance(vit, VisionTransformer)
    images = x_test[: cfg.probe_images]
    distances, r2 = _inspect(vit, images, cfg)
    run.metric("attention_distance_px", distances)  # per block, per head
    uniform = float(patch_distances(vit.grid, cfg.patch_size).mean())  # every patch attended equally
    run.metric("uniform_distance_px", round(uniform, 3))
    run.metric("probe_r2_by_block", r2)  # index 0: the embedding (patches + positions), then each block
    firsts, lasts = sum(distances[0]) / len(distances[0]), sum(distances[-1]) / len(distances[-1])

    run.check(CARD.claims[0], round(lasts / firsts, 3))
    run.check(CARD.claims[1], round(gap[str(cfg.small_set)], 2))
    run.check(CARD.claims[2], round(gap[str(cfg.small_set)] - gap[str(cfg.large_set)], 2))
    run.check(CARD.claims[3], round(r2[-1] / r2[-2], 3) if r2[-2] > 0 else math.nan)
    with torch.device("meta"):
        base = vit_base_patch16_224()
    run.check(CARD.claims[4], round(count_params(base) / 1e6, 3))
    _plot(run, rows, distances, r2, cfg, uniform)

    # What the model looks for: the embedding's principal components and, per depth, images that
    # drive MLP neurons (Ghiasi et al.); pictures for the report, no claim rests on them.
    hidden = vit.blocks[0].mlp.fc1.out_features
    blocks = sorted({0, cfg.depth // 2, cfg.depth - 1})
    g = run.generator("actmax")
    chosen = {b: torch.randperm(hidden, generator=g)[: cfg.actmax_neurons] for b in blocks}
    pictures = {
        b: activation_maximization(
            vit, b, chosen[b], mean.to(run.device), std.to(run.device), g, steps=cfg.actmax_steps
        ).cpu()
        for b in blocks
    }
    run.metric("actmax_neurons", {str(b + 1): chosen[b].tolist() for b in blocks})
    _plot_features(run, embedding_components(vit, 16).cpu(), pictures)


@torch.no_grad()
def _inspect(vit: VisionTransformer, images: Tensor, cfg: Config) -> tuple[list[list[float]], list[float]]:
    """Mean attention distance per block and head, and the patch-content probe's R² per block."""
    vit.eval()
    trace = vit.forward_trace(images, need_weights=True)
    s = vit.patch_slice
    distances = [
        [round(float(d), 3) for d in mean_attention_distance(a[:, :, s, s], vit.grid, cfg.patch_size)]
        for a in trace.attention
    ]
    pixels = patch_pixels(images, cfg.patch_size).flatten(0, 1).cpu()  # (B·N, C·P·P)
    states = [vit.embed(images), *trace.blocks]  # (B, T, D) each: the input of block 1, then each output
    r2 = [round(probe_r2(h[:, s].flatten(0, 1).cpu(), pixels, cfg.ridge), 4) for h in states]
    return distances, r2


def _plot_features(run: Run, components: Tensor, pictures: dict[int, Tensor]) -> None:
    from landmarks.plots import plt

    def show(ax, image: Tensor) -> None:  # type: ignore[no-untyped-def]
        lo, hi = image.amin(), image.amax()
        ax.imshow(((image - lo) / (hi - lo + 1e-12)).permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)

    cols = max(8, max(len(p) for p in pictures.values()))
    n_comp_rows = -(-len(components) // cols)
    fig, axes = plt.subplots(
        n_comp_rows + len(pictures),
        cols,
        figsize=(1.3 * cols, 1.45 * (n_comp_rows + len(pictures))),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.set_axis_off()
    for i, comp in enumerate(components):
        ax = axes[i // cols, i % cols]
        ax.set_axis_on()
        show(ax, comp)
        if i == 0:
            ax.set_title("embedding PCs", fontsize=8, loc="left")
    for r, (block, images) in enumerate(pictures.items(), start=n_comp_rows):
        for c, image in enumerate(images):
            axes[r, c].set_axis_on()
            show(axes[r, c], image)
        axes[r, 0].set_ylabel(f"block {block + 1}", fontsize=8)
    run.save_figure(
        fig,
        "vit-features",
        "Top: principal components of the patch-embedding filters (Dosovitskiy et al. Fig. 7, left). "
        "Below: images that maximize MLP neurons drawn at random in the first, middle and last blocks, "
        "by activation maximization with augmentation ensembling (Ghiasi et al.)",
    )


def _plot(
    run: Run,
    rows: dict[str, dict[str, dict]],
    distances: list[list[float]],
    r2: list[float],
    cfg: Config,
    uniform: float,
) -> None:
    import matplotlib.ticker

    from landmarks.plots import plt

    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(14, 3.8))
    for block, heads in enumerate(distances, start=1):
        ax.scatter([block] * len(heads), heads, color="C0", s=14)
    ax.plot(range(1, len(distances) + 1), [sum(h) / len(h) for h in distances], color="C0", lw=1)
    ax.axhline(uniform, color="grey", ls="--", lw=1, label="uniform attention")
    ax.legend(fontsize=8)
    ax.set_xlabel("block")
    ax.set_ylabel("mean attention distance (pixels)")
    ax.set_title("Attention distance per head (Fig. 7)")
    sizes = [int(n) for n in rows["ViT"]]
    for i, name in enumerate(rows):
        bx.plot(
            sizes, [100 * rows[name][str(n)]["test_accuracy"] for n in sizes], "o-", color=f"C{i}", label=name
        )
    bx.set_xscale("log")
    bx.set_xticks(sizes, [f"{n:,}" for n in sizes])
    bx.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    bx.set_xlabel("training images")
    bx.set_ylabel("test accuracy, %")
    bx.set_title(f"About equal parameters, {cfg.steps} steps each")
    bx.legend()
    cx.plot(range(len(r2)), r2, "o-", color="C2")
    cx.set_xticks(range(len(r2)), ["embed", *[str(i) for i in range(1, len(r2))]])
    cx.set_xlabel("block")
    cx.set_ylabel("held-out R²")
    cx.set_title("Patch token → its own patch's pixels")
    run.save_figure(fig, "vit", "ViT: attention distance, data hunger against a ResNet, patch-content probe")
