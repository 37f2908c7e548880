"""A ConvNet for the 2020s.

Zhuang Liu, Hanzi Mao, Chao-Yuan Wu, Christoph Feichtenhofer, Trevor Darrell, Saining Xie.
CVPR 2022. arXiv:2201.03545.

Start from a standard ResNet-50 and modernize it one design decision at a time, towards the
hierarchical vision Transformer (Swin), keeping the network a pure ConvNet: the result, ConvNeXt,
matches or beats Swin at equal FLOPs (Fig. 2 is the ladder, one step per row). The steps:

- Sec. 2.2 macro design: stage compute ratio 3:4:6:3 → 3:3:9:3, and a "patchify" stem
  (4×4 conv, stride 4) in place of the 7×7 conv + max pool.
- Sec. 2.3 ResNeXt-ify: depthwise 3×3 convolution (groups = channels), width 64 → 96.
- Sec. 2.4 inverted bottleneck: the block's hidden layer is 4× wider than its input (as a
  Transformer's MLP), so the shortcut runs on the narrow dimension.
- Sec. 2.5 large kernel: move the depthwise conv to the top of the block (like attention
  before the MLP), then grow it to 7×7.
- Sec. 2.6 micro design: GELU for ReLU, one activation and one normalization per block,
  LayerNorm for BatchNorm, separate downsampling layers (LayerNorm + 2×2 conv, stride 2).

Sec. 2.1's training recipe adds stochastic depth (drop path) and layer scale (a learned
per-channel scale γ, initialized to 1e-6, on each block's output).

This module, in that order: the channels-first LayerNorm, drop path, the ConvNeXt block,
stages, stem and head, ConvNeXt-T/S/B/L of Sec. 3 (parameter names match timm ≥ 1.0, so
``timm.create_model("convnext_tiny").state_dict()`` loads as it is, via ``from_timm``), and the
modernization ladder of Fig. 2 at toy scale (32×32 images, 10 classes): one model builder per
step, each taking a width so that the rungs can be compared at about equal parameter counts.
``reproduce`` trains every rung at the width whose parameter count is closest to one target
(0.2 M; the rungs land at 0.18 to 0.21 M), with one recipe and the same batches,
on the procedural shapes set (``landmarks.data.shapes``), and reports the ladder as a table
and a plot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from landmarks.engine import decay_groups, top1_accuracy
from landmarks.nn.counting import count_macs, count_params
from landmarks.nn.interop import load_exact, timm_stages
from landmarks.papers.resnet import Bottleneck, make_stage
from landmarks.registry import Card, ClaimSpec

if TYPE_CHECKING:
    from landmarks.engine import Run

__all__ = [
    "CARD",
    "LADDER",
    "PRESETS",
    "Block",
    "Config",
    "ConvNeXt",
    "DropPath",
    "Head",
    "InvertedBottleneck",
    "LadderNet",
    "LargeKernelBlock",
    "LayerNorm2d",
    "ResNeXtBottleneck",
    "Stage",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
    "count_macs",
    "count_params",
    "drop_path",
    "from_timm",
    "ladder_model",
    "match_width",
    "reproduce",
]

USES_DATA_DIR = True  # --data-dir: CIFAR-10's binary batches instead of the procedural shapes

CARD = Card(
    citation=(
        "Zhuang Liu, Hanzi Mao, Chao-Yuan Wu, Christoph Feichtenhofer, Trevor Darrell, Saining Xie. "
        "A ConvNet for the 2020s. CVPR 2022. arXiv:2201.03545."
    ),
    takeaways=[
        "Much of the vision Transformers' lead over ConvNets came from their training recipe and "
        "design choices, not from attention: a ResNet-50 modernized one step at a time towards "
        "Swin, staying a pure ConvNet, goes from 78.8 % to 82.0 % ImageNet top-1 and beats Swin-T "
        "(81.3 %) at the same FLOPs.",
        "The steps that matter: Swin's stage ratio and a patchify stem, depthwise convolution with "
        "more width (ResNeXt), an inverted bottleneck, a large 7×7 kernel moved to the top of the "
        "block, and Transformer-style micro design (GELU, one activation and one LayerNorm per "
        "block, separate downsampling layers).",
        "The resulting block is simple: depthwise 7×7 conv → LayerNorm → 1×1 to 4× width → GELU → "
        "1×1 back, with layer scale and stochastic depth, and it scales from T to XL like Swin.",
    ],
    claims=[
        ClaimSpec(
            "at about equal parameters (each rung within 10 % of one target), the toy ConvNeXt (the "
            "last rung) is at least as accurate as the ResNet baseline (the first rung): test "
            "accuracy difference, percentage points",
            ">= 0",
            "Fig. 2: ConvNeXt-T 82.0 % against ResNet-50 78.8 % ImageNet top-1 (same recipe; "
            "4.5 vs 4.1 GFLOPs); parameters: ConvNeXt-T 29 M (Table 1), ResNet-50 25 M",
        ),
        ClaimSpec(
            "ConvNeXt-T (timm-compatible, 1000 classes) parameters, millions, counted",
            "in [28.5, 28.7]",
            "Table 1: 29 M (README: 28 M); timm's convnext_tiny: 28.6 M",
        ),
        ClaimSpec(
            "ConvNeXt-T multiply-adds at 224², billions, counted",
            "in [4.4, 4.6]",
            "Table 1: 4.5 GFLOPs (multiply-adds)",
        ),
    ],
    keeps=[
        "every step of Fig. 2 as its own model, in the paper's order: ResNet bottlenecks → stage "
        "ratio 1:1:3:1 and a patchify stem → depthwise conv, wider → inverted bottleneck (4×) → "
        "depthwise 7×7 moved to the top → GELU, one activation, one LayerNorm, separate "
        "downsampling layers, layer scale (the ConvNeXt block itself)",
        "comparison at about equal size, as the paper keeps FLOPs about equal: every rung's width is "
        "chosen so that its parameter count is closest to one target (``match_width``): 185 k to "
        "209 k parameters for the 200 k target, 2.7 to 3.9 M multiply-adds",
        "one recipe for every rung, the paper's kind: AdamW at the paper's peak rate 4e-3, weight "
        "decay 0.05 (not on biases, norms and layer scale), linear warm-up then cosine decay, label "
        "smoothing 0.1, random crops and flips; the same batches in the same order (each rung "
        "initialized from its own seed, derived from the run's)",
        "the full-size ConvNeXt-T/S/B/L, loading timm's state dicts with identical logits",
    ],
    shrinks=[
        "ImageNet (1.2 M images of 224², 1000 classes) → 10,000 procedural 32×32 images of 10 "
        "shape classes (or CIFAR-10 with --data-dir); test accuracy on 2,000 held-out images",
        "ResNet-50's 3:4:6:3 stages → 1:1:2:1, and 3:3:9:3 → 1:1:3:1; stems downsample 2× "
        "(2×2 patches) instead of 4×, so the four stages see 16, 8, 4, 2 pixels",
        "25-28 M parameters → about 0.2 M per rung (widths 9 to 15 instead of 64 and 96)",
        "300 epochs → 400 steps of 128 images (about 5 epochs); no mixup, CutMix, RandAugment, random erasing, "
        "stochastic depth or EMA of the weights",
        "Fig. 2's sub-steps are merged into one rung per section (stage ratio + patchify stem; "
        "depthwise + width; move up + 7×7; the five micro-design changes)",
    ],
    figures={
        "Fig. 2, ImageNet-1K top-1 (ResNet-50 recipe → each step)": (
            "ResNet-50 78.8 % (76.1 % with the original recipe) → stage ratio 79.4 → patchify stem "
            "79.5 → depthwise conv 78.3, width 64 → 96 80.5 → inverted bottleneck 80.6 → move the "
            "depthwise conv up 79.9, kernel 7×7 80.6 → micro design (GELU, fewer activations and "
            "norms, LayerNorm, separate downsampling) 82.0 = ConvNeXt-T"
        ),
        "Swin-T, ImageNet-1K top-1": "81.3 %",
        "ConvNeXt-T parameters / FLOPs (multiply-adds) at 224²": (
            "29 M (Table 1; README: 28 M) / 4.5 G (ResNet-50: 25 M / 4.1 G)"
        ),
        "ConvNeXt-S / B / L parameters": "50 M / 89 M / 198 M",
    },
    notes=(
        "Every rung is built at the width whose parameter count is closest to ``target_params`` "
        "(within 8 %: 184,678 to 208,594 for the 200,000 target; the table records width, "
        "parameters and multiply-adds), trained on the same batches (each from its own seed), and "
        "scored on the same 2,000 test images in eval mode. "
        "Stems downsample 2× with 2×2 patches: a 4×4 patchify stem on 32×32 images would leave a "
        "1×1 last stage. On this budget (400 steps, half a minute to a minute and a half per rung on "
        "two cores, by host) the ladder does "
        "not favour the ConvNeXt: the BatchNorm rungs start learning at once, while the toy ConvNeXt "
        "(LayerNorm, GELU, one activation per block, layer scale 1e-6) stays near chance for its "
        "first few hundred steps and then learns steadily: in development it was at 16 % test "
        "accuracy after 300 steps and 51 % after 1,200 (seed 0), against 57 to 71 % for the ResNet "
        "rung after 400 (seeds 0 to 2). Neither the ResNet's weight init for the ConvNeXt, nor a larger layer scale, "
        "nor a BatchNorm or an activation in its stem, nor learning rates from 1e-3 to 8e-3 removed "
        "that plateau; the paper trains for 300 epochs, where a slow start costs nothing. Nor is it the colour "
        "symmetry of the procedural set (every class has the same mean image): with every object "
        "lighter than its background the ResNet rung reached 98 % and the toy ConvNeXt 55 % "
        "(seed 0, one trial). Nor is the rate too high for the batch: scaled from the paper's 4e-3 at "
        "batch 4096 to batch 128 (1.25e-4), or at 5e-4, every rung stayed below 26 % after 400 "
        "steps. Swapping single ingredients of the toy ConvNeXt back also left it at 17-26 % after "
        "400 steps (seed 0): BatchNorm for LayerNorm, no layer scale, ReLU for GELU, PyTorch's "
        "default init, or depths 2-2-6-2 at about equal parameters; the first rung to lose ground is "
        "the linear patchify stem (the macro-design rung: from 57-71 % to 40-49 % on seeds 0 to 2), "
        "which suggests the early nonlinear processing "
        "at full resolution matters most on these small images. Claim 1 "
        "is therefore reported as measured, and not reproduced at this scale; the parameter and "
        "multiply-add counts of the full-size ConvNeXt-T (claims 2 and 3) are exact. Memory layout: "
        "channels-last, 1.44 times faster per training step than contiguous for the toy ConvNeXt "
        "(49 against 71 ms for 128 images; ``landmarks bench vision``, 2 threads)."
    ),
)


# ---- Sec. 2.6: LayerNorm on channels-first feature maps -----------------------------------


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map, separately at every pixel.

    Inside the block the map is permuted to channels-last and ``nn.LayerNorm`` is used; the stem,
    the downsampling layers and the head's input stay channels-first, so the normalization is
    written out: y = (x - mean_C(x)) / sqrt(var_C(x) + eps) · weight + bias.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)  # (B, 1, H, W)
        var = (x - mean).pow(2).mean(1, keepdim=True)  # (B, 1, H, W), biased, as LayerNorm
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]  # (C, 1, 1) broadcast


# ---- Sec. 2.1: stochastic depth (Huang et al., 2016) ---------------------------------------


def drop_path(
    x: torch.Tensor, p: float, training: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Drop a residual branch for whole samples: each sample's branch is zeroed with probability
    ``p`` and the kept ones are scaled by 1/(1-p), so the expectation is unchanged. Identity in
    eval mode (and for p = 0)."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # (B, 1, 1, 1): one coin per sample
    mask = torch.bernoulli(torch.full(shape, keep, dtype=x.dtype, device=x.device), generator=generator)
    return x * mask / keep


class DropPath(nn.Module):
    """Stochastic depth on a residual branch, with drop probability ``p`` (``drop_path``)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# ---- Fig. 4 right: the ConvNeXt block ------------------------------------------------------


class Mlp(nn.Module):
    """Sec. 2.4 inverted bottleneck, on channels-last maps: Linear d → 4d, GELU, Linear 4d → d.

    The two 1×1 convs are Linear layers on (B, H, W, C); only one activation, between them
    (Sec. 2.6, fewer activation functions), and GELU in place of ReLU.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)  # pointwise expansion, d → 4d
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)  # pointwise projection, 4d → d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """depthwise 7×7 conv → LayerNorm → Linear 4× → GELU → Linear → γ · → drop path → + x."""

    def __init__(
        self,
        dim: int,
        drop_path: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        kernel_size: int = 7,
        mlp_ratio: int = 4,
    ) -> None:
        super().__init__()
        # Sec. 2.3 + 2.5: depthwise (groups = channels), moved to the top of the block, 7×7.
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # Sec. 2.6: a single LayerNorm per block
        self.mlp = Mlp(dim, mlp_ratio * dim)  # Sec. 2.4: inverted bottleneck
        # Layer scale (Touvron et al., 2021): γ ∈ R^d, initialized small so each block starts near identity.
        self.gamma = (
            nn.Parameter(torch.full((dim,), layer_scale_init_value)) if layer_scale_init_value > 0 else None
        )
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x  # (B, C, H, W)
        x = self.conv_dw(x)  # (B, C, H, W): spatial mixing, per channel
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C): channels-last for LayerNorm and Linear
        x = self.mlp(self.norm(x))  # (B, H, W, C): channel mixing, per pixel
        if self.gamma is not None:
            x = self.gamma * x  # (C,) broadcasts over the last dimension
        x = x.permute(0, 3, 1, 2)  # (B, C, H, W)
        return shortcut + self.drop_path(x)


# ---- Sec. 2.2 and 2.6: stages, stem, downsampling, head -------------------------------------


class Stage(nn.Module):
    """A separate downsampling layer (Sec. 2.6: LayerNorm, then 2×2 conv with stride 2; none for
    the first stage, which follows the stem) and ``depth`` blocks at constant resolution."""

    def __init__(
        self,
        c_in: int,
        dim: int,
        depth: int,
        drop_paths: list[float],
        layer_scale_init_value: float,
        downsample: bool,
    ) -> None:
        super().__init__()
        self.downsample = (
            nn.Sequential(LayerNorm2d(c_in), nn.Conv2d(c_in, dim, kernel_size=2, stride=2))
            if downsample
            else nn.Identity()
        )
        self.blocks = nn.Sequential(
            *(Block(dim, drop_paths[j], layer_scale_init_value) for j in range(depth))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))  # (B, dim, H/2, W/2) after a downsampling layer


class Head(nn.Module):
    """Global average pooling → LayerNorm → Linear."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mean(dim=(2, 3))  # (B, C, H, W) → (B, C)
        return self.fc(self.norm(x))  # (B, num_classes)


class ConvNeXt(nn.Module):
    """ConvNeXt (Sec. 3). Parameter names follow timm ≥ 1.0, so its state dicts load unchanged.

    ``patch_size`` is the stem's kernel and stride: 4 in the paper; the toy ladder uses 2 on
    32×32 images (see ``rung5_convnext``).
    """

    def __init__(
        self,
        depths: tuple[int, ...] = (3, 3, 9, 3),
        dims: tuple[int, ...] = (96, 192, 384, 768),
        num_classes: int = 1000,
        in_channels: int = 3,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 1e-6,
        patch_size: int = 4,
    ) -> None:
        super().__init__()
        if len(depths) != len(dims) or min(depths) < 1:
            raise ValueError(f"need one dim per stage and at least one block each; got {depths}, {dims}")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
        self.depths, self.dims = tuple(depths), tuple(dims)
        # Sec. 2.2: "patchify" stem, non-overlapping p×p patches (a ViT's patch embedding) + LayerNorm.
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, dims[0], kernel_size=patch_size, stride=patch_size), LayerNorm2d(dims[0])
        )
        # Stochastic depth rate grows linearly with depth, from 0 to drop_path_rate (Huang et al.).
        n = sum(depths)
        rates = [drop_path_rate * j / max(n - 1, 1) for j in range(n)]
        stages, c, start = [], dims[0], 0
        for i, (depth, dim) in enumerate(zip(depths, dims)):
            stages.append(Stage(c, dim, depth, rates[start : start + depth], layer_scale_init_value, i > 0))
            c, start = dim, start + depth
        self.stages = nn.Sequential(*stages)
        self.head = Head(dims[-1], num_classes)
        _init_convnext(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, d0, H/p, W/p); p = 4: (B, 96, 56, 56) for T at 224²
        x = self.stages(x)  # (B, d3, H/8p, W/8p); (B, 768, 7, 7)
        return self.head(x)  # (B, num_classes)


def _init_convnext(model: nn.Module) -> None:
    """The official recipe: truncated normal (std 0.02) for conv and linear weights, zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# ---- Sec. 3: the model sizes --------------------------------------------------------------


def convnext_tiny(
    num_classes: int = 1000, drop_path_rate: float = 0.0, layer_scale_init_value: float = 1e-6
) -> ConvNeXt:
    return ConvNeXt((3, 3, 9, 3), (96, 192, 384, 768), num_classes, 3, drop_path_rate, layer_scale_init_value)


def convnext_small(
    num_classes: int = 1000, drop_path_rate: float = 0.0, layer_scale_init_value: float = 1e-6
) -> ConvNeXt:
    return ConvNeXt(
        (3, 3, 27, 3), (96, 192, 384, 768), num_classes, 3, drop_path_rate, layer_scale_init_value
    )


def convnext_base(
    num_classes: int = 1000, drop_path_rate: float = 0.0, layer_scale_init_value: float = 1e-6
) -> ConvNeXt:
    return ConvNeXt(
        (3, 3, 27, 3), (128, 256, 512, 1024), num_classes, 3, drop_path_rate, layer_scale_init_value
    )


def convnext_large(
    num_classes: int = 1000, drop_path_rate: float = 0.0, layer_scale_init_value: float = 1e-6
) -> ConvNeXt:
    return ConvNeXt(
        (3, 3, 27, 3), (192, 384, 768, 1536), num_classes, 3, drop_path_rate, layer_scale_init_value
    )


def from_timm(state_dict: Mapping[str, torch.Tensor]) -> ConvNeXt:
    """Build the ConvNeXt a timm state dict describes and copy its weights in.

    Blocks per stage are read off the keys, widths off ``conv_dw`` shapes, classes off
    ``head.fc``; then every key and shape must line up (``load_exact``): nothing is dropped,
    renamed or left at random init.
    """
    if "stem.0.weight" not in state_dict:
        raise ValueError("not a timm ConvNeXt state dict: no 'stem.0.weight' (the patchify stem's conv)")
    depths, dims = timm_stages(state_dict, "conv_dw.weight", "ConvNeXt")
    stem = state_dict["stem.0.weight"]  # (d0, C_in, p, p)
    fc = state_dict.get("head.fc.weight")  # (num_classes, d3); if absent, load_exact names it
    model = ConvNeXt(
        tuple(depths),
        tuple(dims),
        num_classes=1000 if fc is None else fc.shape[0],
        in_channels=stem.shape[1],
        layer_scale_init_value=1e-6 if any(k.endswith(".gamma") for k in state_dict) else 0.0,
        patch_size=stem.shape[-1],
    )
    return load_exact(model, state_dict, "timm ConvNeXt state dict")  # type: ignore[return-value]


# ---- Fig. 2 at toy scale: modernizing a ResNet, one step per rung ----------------------------
#
# 32×32 images, 10 classes. Every rung has four stages on maps of 16, 8, 4, 2 pixels (the
# paper: 56, 28, 14, 7 on 224²): the paper's stems shrink the image 4×, ours 2×, because a 4×4
# patchify stem on 32×32 would leave 8×8 maps and a last stage of 1×1. ``width`` is the paper's
# "width" (64 in ResNet-50, 96 after Sec. 2.3): the stem's output channels and the narrow
# dimension of the first stage's blocks; stage i uses width·2^i. ResNeXt-ify's "wider" comes
# from comparing rungs at about equal parameters: a depthwise conv frees parameters, so the matched
# width grows.

TOY_RESNET_DEPTHS = (1, 1, 2, 1)  # ResNet-50's 3:4:6:3, shrunk
TOY_CONVNEXT_DEPTHS = (1, 1, 3, 1)  # Sec. 2.2: Swin-T's 1:1:3:1 (ConvNeXt-T's 3:3:9:3)


class LadderNet(nn.Module):
    """Stem → stages → global average pooling → Linear, for the BatchNorm rungs 0-4."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module], c_out: int, num_classes: int) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(c_out, num_classes)
        for m in self.modules():  # He init for convs, as the ResNet (BatchNorm starts as identity)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, w, 16, 16) on 32² inputs
        x = self.stages(x)  # (B, c_out, 2, 2)
        return self.fc(x.mean(dim=(2, 3)))  # (B, c_out) → (B, num_classes)


def resnet_stem(width: int, in_channels: int = 3) -> nn.Sequential:
    """The ResNet stem shrunk to 32²: an overlapping conv + max pool, 2× down (ImageNet: 7×7/2 + pool/2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),  # (B, w, 16, 16)
    )


def patchify_stem(width: int, in_channels: int = 3) -> nn.Sequential:
    """Sec. 2.2: non-overlapping 2×2 patches, stride 2 (ImageNet: 4×4, stride 4); BN and ReLU stay
    until the micro design (Sec. 2.6) changes them."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, kernel_size=2, stride=2, bias=False),  # (B, w, 16, 16)
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
    )


class ResNeXtBottleneck(Bottleneck):
    """Sec. 2.3: the ResNet bottleneck with its 3×3 conv made depthwise (groups = channels)."""

    def __init__(
        self,
        c_in: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        residual: bool = True,
    ) -> None:
        super().__init__(c_in, planes, stride, downsample, residual)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, groups=planes, bias=False)


class InvertedBottleneck(nn.Module):
    """Sec. 2.4 (Fig. 3b): 1×1 d → 4d, depthwise 3×3 on the wide maps, 1×1 4d → d; BN after
    each conv and ReLU after the first two, as in the ResNet block.

    ``expansion = 1`` with ``planes`` = the block's output width lets ``resnet.make_stage`` build
    the stages (strided first block, 1×1 projection shortcut).
    """

    expansion = 1

    def __init__(
        self,
        c_in: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        residual: bool = True,
    ) -> None:
        super().__init__()
        hidden = 4 * planes
        self.conv1 = nn.Conv2d(c_in, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = nn.Conv2d(hidden, planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.residual = residual

    # conv-BN-ReLU, conv-BN-ReLU, conv-BN, + shortcut, ReLU: the ResNet bottleneck's own forward
    forward = Bottleneck.forward


class LargeKernelBlock(nn.Module):
    """Sec. 2.5 (Fig. 3c): the depthwise conv moved to the top, on the narrow maps, and grown to
    7×7; then 1×1 d → 4d and 1×1 4d → d. BN and ReLU as before (Sec. 2.6 removes most)."""

    expansion = 1

    def __init__(
        self,
        c_in: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        residual: bool = True,
        kernel_size: int = 7,
    ) -> None:
        super().__init__()
        hidden = 4 * planes
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=pad, groups=c_in, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv2 = nn.Conv2d(c_in, hidden, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = nn.Conv2d(hidden, planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.residual = residual

    forward = Bottleneck.forward  # the same order of conv, BN, ReLU and shortcut


def _bn_ladder_net(
    block: type[nn.Module], stem: nn.Module, depths: tuple[int, ...], width: int, num_classes: int
) -> LadderNet:
    """Stages of ``block`` with ``width·2^i`` planes, downsampling inside the first block of stages
    1-3 (stride 2 and a 1×1 projection shortcut, ResNet option B)."""
    stages, c = [], width
    for i, n in enumerate(depths):
        planes = width * 2**i
        stages.append(make_stage(block, c, planes, n, stride=1 if i == 0 else 2, shortcut="B"))  # type: ignore[arg-type]
        c = planes * block.expansion  # type: ignore[attr-defined]
    return LadderNet(stem, stages, c, num_classes)


def rung0_resnet(width: int, num_classes: int = 10) -> nn.Module:
    """The baseline: ResNet bottleneck blocks (``resnet.Bottleneck``), ResNet stem, 1:1:2:1 stages."""
    return _bn_ladder_net(Bottleneck, resnet_stem(width), TOY_RESNET_DEPTHS, width, num_classes)


def rung1_macro(width: int, num_classes: int = 10) -> nn.Module:
    """Sec. 2.2 macro design: stage ratio 1:1:3:1 and the patchify stem."""
    return _bn_ladder_net(Bottleneck, patchify_stem(width), TOY_CONVNEXT_DEPTHS, width, num_classes)


def rung2_resnext(width: int, num_classes: int = 10) -> nn.Module:
    """Sec. 2.3 ResNeXt-ify: depthwise 3×3 in the bottleneck (the width grows when matched)."""
    return _bn_ladder_net(ResNeXtBottleneck, patchify_stem(width), TOY_CONVNEXT_DEPTHS, width, num_classes)


def rung3_inverted(width: int, num_classes: int = 10) -> nn.Module:
    """Sec. 2.4 inverted bottleneck: the shortcut on the narrow d, hidden layer 4d."""
    return _bn_ladder_net(InvertedBottleneck, patchify_stem(width), TOY_CONVNEXT_DEPTHS, width, num_classes)


def rung4_large_kernel(width: int, num_classes: int = 10) -> nn.Module:
    """Sec. 2.5 large kernel: the depthwise conv moved up and grown to 7×7."""
    return _bn_ladder_net(LargeKernelBlock, patchify_stem(width), TOY_CONVNEXT_DEPTHS, width, num_classes)


def rung5_convnext(width: int, num_classes: int = 10) -> nn.Module:
    """Sec. 2.6 micro design = a toy ConvNeXt: GELU, one activation and one LayerNorm per block,
    separate downsampling layers, LayerNorm after the stem and before the classifier, layer scale.
    The stem patchifies 2×2 (not 4×4) on 32×32 images."""
    dims = tuple(width * 2**i for i in range(len(TOY_CONVNEXT_DEPTHS)))
    return ConvNeXt(TOY_CONVNEXT_DEPTHS, dims, num_classes=num_classes, patch_size=2)


LADDER: list[tuple[str, Callable[..., nn.Module]]] = [
    ("ResNet (baseline)", rung0_resnet),
    ("macro design: stage ratio, patchify stem", rung1_macro),
    ("ResNeXt-ify: depthwise conv, wider", rung2_resnext),
    ("inverted bottleneck", rung3_inverted),
    ("large kernel: depthwise 7×7 moved up", rung4_large_kernel),
    ("micro design: GELU, LayerNorm, fewer norms and activations (ConvNeXt)", rung5_convnext),
]


def ladder_model(rung: int, width: int, num_classes: int = 10) -> nn.Module:
    """The model of Fig. 2's ``rung``-th step (0 = ResNet baseline, 5 = toy ConvNeXt)."""
    if not 0 <= rung < len(LADDER):
        raise ValueError(f"rung must be 0-{len(LADDER) - 1} ({', '.join(n for n, _ in LADDER)}), got {rung}")
    if width < 1:
        raise ValueError(f"width must be a positive number of channels, got {width}")
    return LADDER[rung][1](width, num_classes=num_classes)


def match_width(
    builder: Callable[..., nn.Module], target_params: int, num_classes: int = 10, max_width: int = 1024
) -> int:
    """The width whose model has the parameter count closest to ``target_params``.

    Parameters grow with width, so a binary search finds the crossing; models are built on the
    meta device (shapes only, no memory, no init cost).
    """

    def params(width: int) -> int:
        with torch.device("meta"):
            return count_params(builder(width, num_classes=num_classes))

    lo, hi = 1, max_width
    if params(hi) < target_params:
        raise ValueError(f"{target_params} parameters need a width above {max_width}; raise max_width")
    while hi - lo > 1:  # invariant: params(lo) < target <= params(hi), or lo = 1
        mid = (lo + hi) // 2
        if params(mid) < target_params:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda w: abs(params(w) - target_params))


# ---- the experiment: Fig. 2's ladder at one parameter count -------------------------------------

RUNG_LABELS = (
    "ResNet",
    "macro design",
    "ResNeXt-ify",
    "inverted\nbottleneck",
    "large kernel",
    "micro design\n(ConvNeXt)",
)
PAPER_TOP1 = (78.8, 79.5, 80.5, 80.6, 80.6, 82.0)  # Fig. 2, at the end of each section's steps


@dataclass(frozen=True)
class Config:
    n_train: int = 10_000
    n_test: int = 2_000
    target_params: int = 200_000  # every rung's width is matched to this many parameters
    batch: int = 128
    steps: int = 400
    lr: float = 4e-3  # AdamW, the paper's peak rate (there at batch 4096)
    weight_decay: float = 0.05  # the paper's; not on biases, norms and layer scale
    warmup: int = 40  # linear warm-up steps, then cosine decay to zero
    label_smoothing: float = 0.1
    crop_padding: int = 2  # random translations of up to ±2 pixels
    flip: bool = True
    channels_last: bool = True  # faster convolutions on a CPU

    def validate(self) -> None:
        for name in ("n_train", "n_test", "batch", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_train < 10 or self.n_test < 10:
            raise ValueError(
                f"need at least one image of each of the 10 classes: n_train and n_test >= 10, "
                f"got {self.n_train} and {self.n_test}"
            )
        if not 5_000 <= self.target_params <= 50_000_000:
            raise ValueError(
                f"target_params must lie in [5000, 50000000] (each rung needs a few channels and the "
                f"widths are searched up to 1024), got {self.target_params}"
            )
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")
        if not 0 <= self.warmup < self.steps:
            raise ValueError(f"warmup must lie in [0, steps={self.steps}), got {self.warmup}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.crop_padding < 32:
            raise ValueError(
                f"crop_padding must lie in [0, 32): a shift by the whole 32×32 image leaves nothing of "
                f"it; got {self.crop_padding}"
            )


PRESETS = {
    "default": Config(),
    "quick": Config(n_train=200, n_test=100, target_params=20_000, batch=16, steps=6, warmup=1),
}


def reproduce(cfg: Config, run: Run) -> None:
    """Train every rung of the ladder at about one parameter count, with one recipe and the same
    batches; record width, parameters, multiply-adds, test accuracy and seconds per rung."""
    from landmarks.data.augment import random_crop, random_flip
    from landmarks.data.shapes import load_image_set, standardize
    from landmarks.engine import fit, warmup_cosine
    from landmarks.engine.seeding import derive_seed

    cfg.validate()
    data = load_image_set(run.data_dir, cfg.n_train, cfg.n_test, run.seed, cache_dir=run.out / "data")
    run.log(f"{data.source}: {len(data.y_train)} training and {len(data.y_test)} test images")
    train01 = data.x_train.float() / 255  # (N, 3, 32, 32) in [0, 1]
    y_train, n = data.y_train, len(data.y_train)
    mean, std = train01.mean((0, 2, 3)), train01.std((0, 2, 3))
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    x_test = standardize(data.x_test, mean, std).to(run.device, memory_format=layout)
    y_test = data.y_test.to(run.device)

    def batch_fn(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = run.generator("batch", step)  # every rung sees the same images in the same order
        idx = torch.randint(n, (cfg.batch,), generator=g)
        x = random_crop(train01[idx], cfg.crop_padding, g)
        if cfg.flip:
            x = random_flip(x, g)
        x = (x - mean[:, None, None]) / std[:, None, None]
        return x.to(run.device, memory_format=layout), y_train[idx].to(run.device)

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):  # type: ignore[no-untyped-def]
        x, y = batch
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        return loss, {"error": (logits.argmax(1) != y).float().mean()}

    def test_accuracy(model: nn.Module) -> float:
        model.eval()
        return top1_accuracy(model, x_test, y_test)

    ladder: dict[str, dict[str, float]] = {}
    for rung, (name, builder) in enumerate(LADDER):
        width = match_width(builder, cfg.target_params, data.num_classes)
        with torch.device("meta"):  # counted on shapes only: no weights, no BatchNorm statistics touched
            shape_only = builder(width, num_classes=data.num_classes)
        params, macs = count_params(shape_only), count_macs(shape_only, (1, 3, 32, 32))
        torch.manual_seed(derive_seed(run.seed, run.paper, "init", rung))
        model = builder(width, num_classes=data.num_classes).to(run.device, memory_format=layout)
        optimizer = torch.optim.AdamW(decay_groups(model, cfg.weight_decay), lr=cfg.lr)
        history = fit(
            run,
            f"rung{rung}",
            model,
            optimizer,
            steps=cfg.steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            scheduler=warmup_cosine(optimizer, cfg.warmup, cfg.steps),
        )
        errors = history.extra.get("error", [])[-50:]
        ladder[name] = {
            "rung": rung,
            "width": width,
            "params": params,
            "macs": macs,
            "test_accuracy": test_accuracy(model),
            "final_train_error": sum(errors) / max(1, len(errors)),
            "train_seconds": round(history.seconds, 2),
        }
        run.log(
            f"rung {rung} ({name}): width {width}, {params / 1e3:.0f} k parameters, {macs / 1e6:.1f} M "
            f"multiply-adds, test accuracy {ladder[name]['test_accuracy']:.3f}, {history.seconds:.1f} s"
        )
    run.metric("ladder", ladder)
    run.table(
        "ladder",
        ["rung", "change", "width", "parameters", "multiply-adds", "test accuracy", "training seconds"],
        [
            [r["rung"], name, r["width"], r["params"], r["macs"], r["test_accuracy"], r["train_seconds"]]
            for name, r in ladder.items()
        ],
        "The modernization ladder (cf. the paper's Fig. 2): each rung adds one change to the one before, "
        "its width matched to the parameter budget",
    )

    rows = list(ladder.values())
    run.check(CARD.claims[0], 100 * (rows[-1]["test_accuracy"] - rows[0]["test_accuracy"]))
    with torch.device("meta"):
        tiny = convnext_tiny()
    tiny_params, tiny_macs = count_params(tiny), count_macs(tiny, (1, 3, 224, 224))
    run.metric("convnext_tiny_parameters", tiny_params)
    run.metric("convnext_tiny_macs", tiny_macs)
    run.check(CARD.claims[1], tiny_params / 1e6)
    run.check(CARD.claims[2], tiny_macs / 1e9)

    _plot_ladder(run, ladder, data.source)


def _plot_ladder(run: Run, ladder: dict[str, dict[str, float]], source: str) -> None:
    """Fig. 2 at toy scale (left) beside the paper's ImageNet numbers for the same steps (right)."""
    from landmarks.plots import plt

    rows = list(ladder.values())
    x = list(range(len(rows)))
    acc = [100 * r["test_accuracy"] for r in rows]
    fig, (ax, paper) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", width_ratios=(3, 2))
    bars = ax.bar(x, acc, color=["tab:grey"] + ["tab:blue"] * (len(rows) - 2) + ["tab:orange"])
    for bar, r in zip(bars, rows):
        ax.annotate(
            f"{100 * r['test_accuracy']:.1f} %\n{r['params'] / 1e3:.0f} k params\nw = {r['width']}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.axhline(acc[0], color="tab:grey", lw=0.8, ls="--")
    low = max(0.0, min(acc) - 15)
    ax.set_ylim(low, min(100.0, max(acc) + 8))
    ax.set_xticks(x, RUNG_LABELS[: len(rows)], fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"toy ladder, about equal parameters ({source})", fontsize=9)
    paper.plot(x, PAPER_TOP1, "o-", color="tab:green")
    for i, v in zip(x, PAPER_TOP1):
        paper.annotate(f"{v}", (i, v), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    paper.set_xticks(x, RUNG_LABELS, fontsize=7, rotation=30)
    paper.set_ylabel("ImageNet top-1 (%)")
    paper.set_ylim(78, 83)
    paper.set_title("the paper's Fig. 2 (ResNet-50 → ConvNeXt-T)", fontsize=9)
    run.save_figure(
        fig,
        "ladder",
        "Modernizing a ResNet, one step per bar, every rung at the same parameter count: test accuracy "
        "of the toy ladder (left) and the paper's ImageNet top-1 after the same steps (right)",
    )
