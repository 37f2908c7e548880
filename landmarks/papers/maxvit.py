"""MaxViT: Multi-Axis Vision Transformer.

Zhengzhong Tu, Hossein Talebi, Han Zhang, Feng Yang, Peyman Milanfar, Alan Bovik, Yinxiao Li.
ECCV 2022. arXiv:2204.01697.

Full self-attention over an H × W feature map compares every pixel with every other: its cost
grows as (HW)², too much for the early, high-resolution stages of a vision backbone. Window
attention (Swin) is linear but local. MaxViT's multi-axis attention (Max-SA, Sec. 3.1) splits
the spatial axes two ways and attends along each in turn:

    block attention: (H, W, C) → (H/P × W/P, P × P, C), attend within each P × P window: local
    grid attention:  (H, W, C) → (G × G, H/G × W/G, C), attend along the G × G axis: each group
                     holds G × G pixels spaced H/G apart, spread over the whole map: sparse, global

Both attend groups of a fixed size (P² or G² pixels; P = G = 7 in the paper), so the cost per
pixel is constant and the whole is linear in HW, yet one block followed by one grid attention
connects any two pixels. A MaxViT block (Fig. 2) is MBConv (inverted bottleneck, depthwise
3 × 3, squeeze-excitation) → block attention + FFN → grid attention + FFN, each attention with
a relative position bias; stages of such blocks make the backbone (MaxViT-T: 2, 2, 5, 2 blocks
of 64, 128, 256, 512 channels after a two-conv stem, Table 1).

This module, in that order: TensorFlow's "same" padding, MBConv with squeeze-excitation, the
block and grid partitions, the relative position bias, the partition attention, the MaxViT
block, stem, stages and head; MaxViT-T/S/B/L with timm's names (``maxvit_tiny_tf_224()``, whose
``timm.create_model("maxvit_tiny_tf_224").state_dict()`` loads as it is, via ``from_timm``);
then the two experiments of ``reproduce``: the cost of the attention operator at four
resolutions (multi-axis against full global attention), and a procedural task whose label is
the global layout of four shapes, learned by a toy MaxViT with block + grid attention and by
its twin whose grid attentions are block attentions (identical parameter shapes).
"""

from __future__ import annotations

import math
import statistics
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.engine import top1_accuracy
from landmarks.errors import UserInputError
from landmarks.nn.attention import scaled_dot_product_attention
from landmarks.nn.counting import count_params
from landmarks.nn.interop import load_exact, timm_stages
from landmarks.registry import Card, ClaimSpec
from landmarks.timing import timed

if TYPE_CHECKING:
    from landmarks.engine import History, Run

__all__ = [
    "CARD",
    "PRESETS",
    "Attention",
    "BatchNormAct2d",
    "Config",
    "Conv2dSame",
    "Downsample",
    "MBConv",
    "MaxViT",
    "MaxViTBlock",
    "PartitionAttention",
    "PartitionError",
    "RelativePositionBias",
    "SqueezeExcite",
    "block_partition",
    "block_reverse",
    "check_image_size",
    "cpu_seconds",
    "feature_sizes",
    "fit_exponent",
    "from_timm",
    "full_attention",
    "grid_partition",
    "grid_reverse",
    "layout_batch",
    "maxvit_base_tf_224",
    "maxvit_large_tf_224",
    "maxvit_small_tf_224",
    "maxvit_tiny_tf_224",
    "measure_attention_cost",
    "multi_axis_attention",
    "multiply_adds",
    "reproduce",
    "toy_maxvit",
]

CARD = Card(
    citation=(
        "Zhengzhong Tu, Hossein Talebi, Han Zhang, Feng Yang, Peyman Milanfar, Alan Bovik, Yinxiao Li. "
        "MaxViT: Multi-Axis Vision Transformer. ECCV 2022. arXiv:2204.01697."
    ),
    takeaways=[
        "Multi-axis attention factors self-attention over the two spatial axes: block attention "
        "inside non-overlapping P × P windows (local), then grid attention along a G × G grid whose "
        "members are spread evenly over the whole map (sparse, dilated, global). Each attends a fixed "
        "number of pixels, so the cost grows linearly with the pixels where full attention's grows "
        "quadratically.",
        "One block attention followed by one grid attention connects any two pixels, so MaxViT mixes "
        "globally in every block, even in the early high-resolution stages, where windowed attention "
        "alone needs many layers to reach across the image.",
        "The MaxViT block is MBConv (depthwise convolution with squeeze-excitation, which also gives "
        "the block its sense of position) → block attention + FFN → grid attention + FFN, each attention "
        "with a relative position bias; stages of identical blocks make a hierarchical backbone "
        "(MaxViT-T: 31 M parameters, 5.6 G multiply-adds, 83.6 % ImageNet-1K top-1).",
    ],
    claims=[
        ClaimSpec(
            "block + grid attention (Max-SA): FLOPs of the attention operator grow as pixels^k; k "
            "fitted over 4 resolutions (FLOPs counted by torch.utils.flop_counter)",
            "in [0.85, 1.15]",
            "Sec. 3.1: multi-axis attention has linear complexity in the spatial size",
        ),
        ClaimSpec(
            "full global attention: FLOPs grow as pixels^k, k fitted over the same 4 resolutions",
            "in [1.85, 2.15]",
            "Sec. 1/3.1: full self-attention is quadratic in the spatial size",
        ),
        ClaimSpec(
            "block + grid attention: measured seconds grow as pixels^k (CPU seconds of one thread, "
            "median of 5 calls of the fused kernel)",
            "in [0.85, 1.15]",
            "Sec. 3.1: multi-axis attention has linear complexity in the spatial size",
        ),
        ClaimSpec(
            "full global attention: measured seconds grow as pixels^k (CPU seconds of one thread, "
            "median of 5 calls of the fused kernel)",
            "in [1.85, 2.15]",
            "Sec. 1: full self-attention is quadratic in the spatial size",
        ),
        ClaimSpec(
            "on a task whose label is the global layout, block + grid attention beats block-only "
            "attention at identical parameter shapes: test accuracy difference, percentage points",
            ">= 10",
            "Sec. 1 and 3.1: window attention alone lacks non-locality; grid attention gives "
            "global interactions in every block",
        ),
        ClaimSpec(
            "MaxViT-T (timm maxvit_tiny_tf_224, 1000 classes) parameters, millions, counted",
            "in [30.5, 31.5]",
            "Table 2 (and the official repository): MaxViT-T 31 M parameters",
        ),
        ClaimSpec(
            "MaxViT-T multiply-adds at 224², billions, counted (torch.utils.flop_counter / 2: "
            "convolutions, linear layers and the attention's two matmuls)",
            "in [5.4, 5.8]",
            "Table 2 (and the official repository): MaxViT-T 5.6 G FLOPs (multiply-adds)",
        ),
    ],
    keeps=[
        "MaxViT-T/S/B/L as built, with timm's parameter names and computation: TensorFlow's 'same' "
        "padding, BatchNorm ε 1e-3 and LayerNorm ε 1e-5, GELU's tanh form, the heads interleaved in "
        "qkv, the relative position table of shape (heads, 2P − 1, 2P − 1), the pooled LayerNorm + "
        "tanh head; timm's maxvit_*_tf_224 state dicts load with identical logits (tested on random "
        "weights, nothing downloaded)",
        "both attentions' cost measured side by side in one run at four resolutions: FLOPs counted by "
        "torch's flop counter, seconds timed, each exponent fitted on a log-log line",
        "the toy's block is MaxViT's own (MBConv with squeeze-excitation → block attention → grid "
        "attention, pre-norm, relative position bias, FFN 4×, the pooled tanh head), and its block-only "
        "twin differs only in how the second attention cuts the map: identical parameter shapes and "
        "count, the same initial weights, the same batches in the same order",
    ],
    shrinks=[
        "ImageNet classification → a procedural three-way layout task on 48 × 48 images (four coloured "
        "shapes on a torus, two of each of two kinds out of four; which of them pair up), drawn fresh "
        "for every batch",
        "MaxViT-T's four stages of 2-5 blocks (31 M parameters) → the two-conv stem of 8 channels and "
        "one stage of one MaxViT block of 32 channels in 4 heads (37 k parameters); P = G = 2 on its "
        "12 × 12 map instead of 7, so that a grid group holds four pixels half an image apart, as the "
        "shapes are",
        "300 ImageNet epochs with RandAugment, mixup, stochastic depth and label smoothing → 500 AdamW "
        "steps of 64 images at a constant rate; no augmentation, dropout or stochastic depth",
        "the toy pads circularly (its pictures are tori) and starts its relative position tables at "
        "σ = 3 (timm: 0.02); MaxViT pads zeros",
        "cost: the attention operator alone (no projections: they cost the same per pixel in both "
        "schemes) on 32² to 96² maps of 64 channels with P = G = 16, on one CPU thread",
    ],
    figures={
        "MaxViT-T / S / B / L at 224², ImageNet-1K (official repository's table)": (
            "31 M / 69 M / 119 M / 212 M parameters; 5.6 / 11.7 / 24.2 / 43.9 G FLOPs (multiply-adds); "
            "83.62 / 84.45 / 84.95 / 85.17 % top-1"
        ),
        "window and grid size (Sec. 3.1)": "P = G = 7 in every stage",
        "attention cost (Sec. 3.1)": "Max-SA linear in the spatial size, full self-attention quadratic",
    },
    notes=(
        "Claims 3 and 4 time the attention operator alone, softmax(QKᵀ/√d)V over the groups each scheme "
        "forms (Q = K = V = the map's 64 channels in 2 heads of 32, as MaxViT-T's first stage), with "
        "the block and grid partitions and their inverses included, on maps of 32², 48², 64² and 96² "
        "pixels with P = G = 16 and one image. The sizes were chosen so that the smallest call still "
        "does 0.13 GFLOP (block + grid) and 0.27 GFLOP (full), milliseconds of work beside the "
        "microseconds of a call's dispatch, and the largest full attention (22 GFLOP) stays under a "
        "second. The seconds are the CPU time of the one thread that computes (one intra-op thread, "
        "time.thread_time, median of 5 after 2 warm-up calls), because wall time on a shared machine "
        "counts the time other programs hold the core. Earlier settings, dropped in development on "
        "this 2-core machine shared with other jobs: wall-clock seconds on maps of 16² to 64² "
        "(P = G = 8, 4 images) fitted 1.32 to 1.65 for block + grid and 2.13 to 2.5 for full attention, "
        "other jobs pausing the process; with P = G = 16 on those maps, full attention still fitted "
        "2.19 to 2.2, its 16² calls, resident in the 1 MB L2 cache, running about twice as fast per "
        "FLOP as the larger ones; hence 32² to 96² and CPU time. The FLOP "
        "exponents are exact (1.000 and 2.000), as the arithmetic says. "
        "Claim 5's task is built so that the block-only twin cannot beat chance, not merely so that "
        "it learns slower: the shapes' centres lie 24 pixels apart and no shape reaches more than "
        "4.2 pixels (+ 0.5 of anti-aliasing) from its centre, while a 2 × 2 window of the 12 × 12 "
        "map (8 pixels) sees 15 pixels of the image through the stem's and MBConv's 3 × 3 "
        "convolutions, so no window ever sees two shapes; 24 is a multiple of 8, so all four shapes "
        "sit at the same offset in their windows, and the torus has no edge to tell where a window "
        "is. What the twin can pool (its head, its squeeze-excitation) is therefore the same "
        "multiset of window contents whatever the label. A 2 × 2 grid on the same map groups the "
        "four pixels 24 apart: exactly the corners of the shapes' square. Both models share P = G "
        "= 2, so the parameter shapes are identical (the table of a 2 × 2 grid and of a 2 × 2 "
        "window are both 3 × 3 per head). How it got here, in development (explore seeds, not the "
        "run's): on 32 × 32 images with shapes 16 pixels apart, windows between two shapes saw the "
        "edges of both, and the block-only twin learned the task to 82 % in 500 steps (99 % with "
        "larger shapes), so the images grew to 48 pixels and the shapes shrank until no window can "
        "see two. The block + grid model first sits at chance for a while (a plateau usual for "
        "relational tasks, where the label is a product of two far-apart contents): with the "
        "relative position tables at timm's σ = 0.02 every head starts out attending its grid "
        "group uniformly, the mixture is the same multiset whatever the label, and it had not left "
        "chance after 540 steps (seed 0, 32-pixel version); at σ = 1 it left the plateau after 200 "
        "to 500 steps, at σ = 3 (heads leaning towards one offset each from the first step) after "
        "150 to 250 (3 seeds), hence σ = 3 and 500 steps. Pixel noise and a random background shade "
        "also lengthened the plateau (32-pixel version, seed 1: no escape in 500 steps with them, "
        "about 350 without) and were dropped, as was a learning rate of 2e-3 or more (no escape). "
        "The threshold (10 points, the catalog's) was never changed."
    ),
)


# ---- the input a partition can take -----------------------------------------------------------


class PartitionError(UserInputError, ValueError):
    """A feature map that does not cut into whole P × P windows or a whole G × G grid."""


def feature_sizes(image_size: int, stages: int) -> list[int]:
    """The side of the feature map each stage attends on: the stem and every stage halve it,
    rounding up ("same" padding with stride 2 gives ⌈n / 2⌉)."""
    side, sizes = math.ceil(image_size / 2), []
    for _ in range(stages):
        side = math.ceil(side / 2)
        sizes.append(side)
    return sizes


def check_image_size(image_size: int, stages: int, window: int, grid: int) -> None:
    """Raise ``PartitionError`` unless every stage's map divides into P × P windows and a G × G grid."""
    if image_size < 1:
        raise PartitionError(f"image_size must be a positive number of pixels, got {image_size}")
    for i, side in enumerate(feature_sizes(image_size, stages)):
        for what, n in (("windows", window), ("grid", grid)):
            if side % n:
                step = 2 ** (stages + 1) * math.lcm(window, grid)
                fits = sorted({max(step, image_size // step * step), (image_size // step + 1) * step})
                raise PartitionError(
                    f"image_size={image_size}: stage {i + 1} attends on a {side}×{side} feature map, "
                    f"which does not divide into {n}×{n} {what} (block windows P={window}, grid G={grid}). "
                    f"The stem and each of the {stages} stage(s) halve the image; sizes that are multiples "
                    f"of {step} (2^{stages + 1} × lcm(P, G)) always divide: try image_size="
                    f"{' or '.join(map(str, fits))}"
                )


# ---- TensorFlow's "same" padding (the official MaxViT is a TensorFlow model) ---------------------


PaddingMode = Literal["zeros", "circular"]


def pad_same(x: Tensor, kernel_size: int, stride: int, mode: PaddingMode = "zeros") -> Tensor:
    """Pad (B, C, H, W) so that a k × k window with stride s leaves ⌈H / s⌉ × ⌈W / s⌉ outputs:
    total padding max((⌈n/s⌉ − 1)·s + k − n, 0) per axis, the smaller half before (top, left) and
    the larger after. With stride 2 on an even side that is one row and column, at the end.
    ``mode="circular"`` wraps the map around (a torus) instead of padding zeros."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad takes the last axis first: W, then H
        total = max((math.ceil(n / stride) - 1) * stride + kernel_size - n, 0)
        pads += [total // 2, total - total // 2]
    if not any(pads):
        return x
    return F.pad(x, pads, mode="constant" if mode == "zeros" else mode)


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding (``pad_same``), computed from the input's
    size at every call; for stride 1 and an odd kernel it equals padding = k // 2. The padding is
    zeros, or the map wrapped around with ``padding_mode="circular"``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        padding_mode: PaddingMode = "zeros",
        **kwargs: object,
    ) -> None:
        super().__init__(c_in, c_out, kernel_size, stride=stride, padding=0, **kwargs)  # type: ignore[arg-type]
        self.same_padding: PaddingMode = padding_mode

    def forward(self, x: Tensor) -> Tensor:
        x = pad_same(x, self.kernel_size[0], self.stride[0], self.same_padding)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


# ---- Sec. 3.2: MBConv with squeeze-excitation -------------------------------------------------------


class BatchNormAct2d(nn.BatchNorm2d):
    """BatchNorm, then GELU (tanh approximation, as TensorFlow's) or nothing; the parameters and
    buffers are BatchNorm2d's own, so the keys are timm's ``norm1.weight``, ``norm1.running_mean``…"""

    def __init__(self, channels: int, eps: float = 1e-3, act: bool = True) -> None:
        super().__init__(channels, eps=eps)
        self.act = nn.GELU(approximate="tanh") if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(super().forward(x))


class SqueezeExcite(nn.Module):
    """Squeeze-excitation (Hu et al., 2018): s = σ(W₂ SiLU(W₁ mean_HW(x))), x ← s ⊙ x, a gate
    per channel computed from the whole map. W₁, W₂ are 1 × 1 convs (``fc1``, ``fc2``)."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.act = nn.SiLU()
        self.fc2 = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1): squeeze
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(s))))  # excite


class Downsample(nn.Module):
    """The shortcut of a block that halves the map: 2 × 2 average pooling ("same" padding, the
    zeros counted), then a 1 × 1 conv (``expand``) where the width changes."""

    def __init__(self, c_in: int, c_out: int, padding_mode: PaddingMode = "zeros") -> None:
        super().__init__()
        self.padding_mode = padding_mode
        self.expand = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.expand(F.avg_pool2d(pad_same(x, 2, 2, self.padding_mode), 2, 2))


class MBConv(nn.Module):
    """Sec. 3.2: pre-norm inverted bottleneck (MobileNetV2) with squeeze-excitation:

        x + Conv1×1(SE(DWConv3×3(Conv1×1(BN(x)))))      (each conv but the last with BN + GELU)

    Expansion 4 (of the output width), SE reduced to a quarter of the output width. The first
    block of a stage downsamples: stride 2 in the depthwise conv and ``Downsample`` on the
    shortcut. The convolutions also give the block its position information (Sec. 3.2: "a
    conditional position encoding"), so the attentions need only a relative bias.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int = 1,
        bn_eps: float = 1e-3,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        mid = 4 * c_out
        self.shortcut = Downsample(c_in, c_out, padding_mode) if stride == 2 else nn.Identity()
        self.pre_norm = BatchNormAct2d(c_in, bn_eps, act=False)
        self.conv1_1x1 = nn.Conv2d(c_in, mid, 1, bias=False)  # expand
        self.norm1 = BatchNormAct2d(mid, bn_eps)
        self.conv2_kxk = Conv2dSame(mid, mid, 3, stride, padding_mode, groups=mid, bias=False)  # depthwise
        self.norm2 = BatchNormAct2d(mid, bn_eps)
        self.se = SqueezeExcite(mid, c_out // 4)
        self.conv3_1x1 = nn.Conv2d(mid, c_out, 1)  # project

    def forward(self, x: Tensor) -> Tensor:
        shortcut = self.shortcut(x)  # (B, C_out, H/s, W/s)
        x = self.norm1(self.conv1_1x1(self.pre_norm(x)))  # (B, 4 C_out, H, W)
        x = self.se(self.norm2(self.conv2_kxk(x)))  # (B, 4 C_out, H/s, W/s)
        return self.conv3_1x1(x) + shortcut


# ---- Sec. 3.1: block and grid partitions (Fig. 3) ---------------------------------------------------


def _check_divides(x: Tensor, n: int, what: str) -> None:
    _, h, w, _ = x.shape
    if h % n or w % n:
        raise PartitionError(
            f"a {h}×{w} feature map does not divide into {n}×{n} {what}: every stage's map must be a "
            f"multiple of the window size P and the grid size G (check_image_size names image sizes that fit)"
        )


def block_partition(x: Tensor, p: int) -> Tensor:
    """(B, H, W, C) → (B · H/P · W/P, P², C): the non-overlapping P × P windows, each a sequence."""
    _check_divides(x, p, "windows")
    b, h, w, c = x.shape
    x = x.view(b, h // p, p, w // p, p, c)  # (B, H/P, P, W/P, P, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, p * p, c)  # window index first, pixels within last


def block_reverse(windows: Tensor, p: int, h: int, w: int) -> Tensor:
    """The inverse of ``block_partition``: (B · H/P · W/P, P², C) → (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // p, w // p, p, p, c)  # (B, H/P, W/P, P, P, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


def grid_partition(x: Tensor, g: int) -> Tensor:
    """(B, H, W, C) → (B · H/G · W/G, G², C): pixel (i, j) of each of the G × G cells of size
    H/G × W/G, gathered over all cells. A sequence is G × G pixels spaced H/G apart: a sparse,
    dilated grid that spans the whole map."""
    _check_divides(x, g, "grid")
    b, h, w, c = x.shape
    x = x.view(b, g, h // g, g, w // g, c)  # (B, G, H/G, G, W/G, C): cell, offset within the cell
    return x.permute(0, 2, 4, 1, 3, 5).reshape(-1, g * g, c)  # offset first, the G × G cells last


def grid_reverse(groups: Tensor, g: int, h: int, w: int) -> Tensor:
    """The inverse of ``grid_partition``: (B · H/G · W/G, G², C) → (B, H, W, C)."""
    c = groups.shape[-1]
    x = groups.view(-1, h // g, w // g, g, g, c)  # (B, H/G, W/G, G, G, C)
    return x.permute(0, 3, 1, 4, 2, 5).reshape(-1, h, w, c)


# ---- relative position bias and the attention inside a window or grid -------------------------------


class RelativePositionBias(nn.Module):
    """B[n, q, k] = table[n, Δrow + (S − 1), Δcol + (S − 1)], Δ = position of key k − position
    of query q on the S × S layout of a window (S = P) or of a grid (S = G): a learned bias per
    head and 2-D offset, added to the attention logits (Sec. 3.1, as Swin). The table is timm's
    ``relative_position_bias_table`` of shape (heads, 2S − 1, 2S − 1)."""

    def __init__(self, heads: int, size: int) -> None:
        super().__init__()
        self.relative_position_bias_table = nn.Parameter(torch.empty(heads, 2 * size - 1, 2 * size - 1))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        rows, cols = rows.flatten(), cols.flatten()  # (S²,) each: the layout in row-major order
        # (S², S²) each: key minus query, shifted to index the table; buffers, not parameters
        self.register_buffer("row_index", rows[None, :] - rows[:, None] + size - 1, persistent=False)
        self.register_buffer("col_index", cols[None, :] - cols[:, None] + size - 1, persistent=False)

    def forward(self) -> Tensor:
        return self.relative_position_bias_table[:, self.row_index, self.col_index]  # (heads, S², S²)


class Attention(nn.Module):
    """Multi-head self-attention within each sequence (a window or a grid group) with a
    relative position bias: softmax(QKᵀ/√d + B) V, on the shared core
    (``landmarks.nn.attention.scaled_dot_product_attention``: the fused kernel, or with
    ``fused=False`` the explicit math). Heads of 32 channels; ``qkv`` rows are W^Q; W^K; W^V."""

    def __init__(self, dim: int, dim_head: int, size: int, fused: bool = True) -> None:
        super().__init__()
        if dim % dim_head:
            raise ValueError(f"dim={dim} is not a multiple of dim_head={dim_head}")
        self.heads, self.dim_head, self.fused = dim // dim_head, dim_head, fused
        self.qkv = nn.Linear(dim, 3 * dim)
        self.rel_pos = RelativePositionBias(self.heads, size)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape  # (sequences, S², C)
        qkv = self.qkv(x).view(b, n, 3, self.heads, self.dim_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (sequences, h, S², d)
        out, _ = scaled_dot_product_attention(q, k, v, self.rel_pos(), fused=self.fused)  # bias (h, S², S²)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """The FFN after each attention: Linear C → 4C, GELU (tanh approximation), Linear 4C → C."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class PartitionAttention(nn.Module):
    """Eq. 3/4 of Sec. 3.1, one axis: x ← x + Unpartition(Attention(Partition(LN(x)))), then
    x ← x + FFN(LN(x)); ``partition`` is "block" (P × P windows) or "grid" (a G × G grid).
    Channels-last maps (B, H, W, C) in and out."""

    def __init__(
        self, dim: int, partition: Literal["block", "grid"], size: int, dim_head: int = 32, fused: bool = True
    ) -> None:
        super().__init__()
        if partition not in ("block", "grid"):
            raise ValueError(f"partition must be 'block' or 'grid', got {partition!r}")
        self.partition, self.size = partition, size
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = Attention(dim, dim_head, size, fused)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = Mlp(dim, 4 * dim)

    def mix(self, x: Tensor) -> Tensor:
        """Attention along this axis only, (B, H, W, C) → (B, H, W, C)."""
        _, h, w, _ = x.shape
        if self.partition == "block":
            return block_reverse(self.attn(block_partition(x, self.size)), self.size, h, w)
        return grid_reverse(self.attn(grid_partition(x, self.size)), self.size, h, w)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mix(self.norm1(x))
        return x + self.mlp(self.norm2(x))


# ---- Fig. 2: the MaxViT block, stem, stages and head -------------------------------------------------


class MaxViTBlock(nn.Module):
    """MBConv → block attention → grid attention (Fig. 2): local then sparse global mixing in
    every block. ``second="block"`` makes the grid attention a second block attention with the
    same parameter shapes (the block-only ablation of ``reproduce``); the name stays ``attn_grid``
    so state dicts of both variants have the same keys."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        window: int,
        grid: int,
        dim_head: int = 32,
        second: Literal["grid", "block"] = "grid",
        fused: bool = True,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        if second == "block" and window != grid:
            raise ValueError(f"a block-only twin needs P = G for equal parameters, got P={window}, G={grid}")
        self.conv = MBConv(c_in, c_out, stride, padding_mode=padding_mode)
        self.attn_block = PartitionAttention(c_out, "block", window, dim_head, fused)
        self.attn_grid = PartitionAttention(c_out, second, grid, dim_head, fused)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x).permute(0, 2, 3, 1)  # (B, H, W, C): channels-last for the attentions
        x = self.attn_grid(self.attn_block(x))
        return x.permute(0, 3, 1, 2)  # (B, C, H, W)


class Stage(nn.Module):
    """``depth`` MaxViT blocks at one resolution; the first halves the map and sets the width."""

    def __init__(self, c_in: int, c_out: int, depth: int, **block: object) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *(
                MaxViTBlock(c_in if i == 0 else c_out, c_out, 2 if i == 0 else 1, **block)
                for i in range(depth)
            )  # type: ignore[arg-type]
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class Stem(nn.Module):
    """Two 3 × 3 convs, the first with stride 2 (with BN + GELU between): 1/2 resolution."""

    def __init__(self, c_in: int, width: int, padding_mode: PaddingMode = "zeros") -> None:
        super().__init__()
        self.conv1 = Conv2dSame(c_in, width, 3, 2, padding_mode)
        self.norm1 = BatchNormAct2d(width)
        self.conv2 = Conv2dSame(width, width, 3, 1, padding_mode)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.norm1(self.conv1(x)))


class Head(nn.Module):
    """Global average pooling, LayerNorm, a hidden layer with tanh (``pre_logits``), the classifier."""

    def __init__(self, dim: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.pre_logits = nn.Sequential(OrderedDict(fc=nn.Linear(dim, hidden), act=nn.Tanh()))
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pre_logits(self.norm(x.mean((2, 3)))))  # (B, C, H, W) → (B, classes)


class MaxViT(nn.Module):
    """Stem → stages of MaxViT blocks → head (Table 1). Window and grid sizes default to the
    image size / 32, as timm's (7 at 224², the paper's P = G = 7)."""

    def __init__(
        self,
        depths: tuple[int, ...] = (2, 2, 5, 2),
        dims: tuple[int, ...] = (64, 128, 256, 512),
        stem_width: int = 64,
        head_hidden: int = 512,
        num_classes: int = 1000,
        in_chans: int = 3,
        image_size: int = 224,
        window: int | None = None,
        grid: int | None = None,
        dim_head: int = 32,
        second: Literal["grid", "block"] = "grid",
        fused: bool = True,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        if len(depths) != len(dims) or not depths or min(depths) < 1:
            raise ValueError(f"need one depth >= 1 per stage width, got depths={depths}, dims={dims}")
        window = window or max(1, image_size // 32)
        grid = grid or window
        check_image_size(image_size, len(depths), window, grid)
        self.depths, self.dims, self.image_size, self.window, self.grid = (
            depths,
            dims,
            image_size,
            window,
            grid,
        )
        self.stem = Stem(in_chans, stem_width, padding_mode)
        widths = (stem_width, *dims)
        block = {
            "window": window,
            "grid": grid,
            "dim_head": dim_head,
            "second": second,
            "fused": fused,
            "padding_mode": padding_mode,
        }
        self.stages = nn.Sequential(
            *(Stage(widths[i], widths[i + 1], d, **block) for i, d in enumerate(depths))
        )
        self.head = Head(dims[-1], head_hidden, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))  # (B, C_last, H/2^(stages+1), W/2^(stages+1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))


# ---- Table 1: MaxViT-T/S/B/L, with timm's names -----------------------------------------------------


def maxvit_tiny_tf_224(**kwargs: object) -> MaxViT:
    """MaxViT-T: 2, 2, 5, 2 blocks of 64, 128, 256, 512 channels; 31 M parameters."""
    return MaxViT((2, 2, 5, 2), (64, 128, 256, 512), 64, 512, **kwargs)  # type: ignore[arg-type]


def maxvit_small_tf_224(**kwargs: object) -> MaxViT:
    """MaxViT-S: 2, 2, 5, 2 blocks of 96, 192, 384, 768 channels; 69 M parameters."""
    return MaxViT((2, 2, 5, 2), (96, 192, 384, 768), 64, 768, **kwargs)  # type: ignore[arg-type]


def maxvit_base_tf_224(**kwargs: object) -> MaxViT:
    """MaxViT-B: 2, 6, 14, 2 blocks of 96, 192, 384, 768 channels; 119 M parameters."""
    return MaxViT((2, 6, 14, 2), (96, 192, 384, 768), 64, 768, **kwargs)  # type: ignore[arg-type]


def maxvit_large_tf_224(**kwargs: object) -> MaxViT:
    """MaxViT-L: 2, 6, 14, 2 blocks of 128, 256, 512, 1024 channels; 212 M parameters."""
    return MaxViT((2, 6, 14, 2), (128, 256, 512, 1024), 128, 1024, **kwargs)  # type: ignore[arg-type]


def from_timm(state_dict: Mapping[str, Tensor], image_size: int = 224, fused: bool = True) -> MaxViT:
    """Build the MaxViT a timm ``maxvit_*_tf_*`` state dict describes and copy its weights in.

    Blocks per stage are read off the keys, widths off ``conv3_1x1``, heads and the window size
    off the relative position tables, the head's sizes off ``head``; then every key and shape must
    line up (``load_exact``): nothing is dropped, renamed or left at random init.
    """
    if "stem.conv1.weight" not in state_dict:
        raise ValueError("not a timm MaxViT state dict: no 'stem.conv1.weight'")
    depths, dims = timm_stages(state_dict, "conv.conv3_1x1.weight", "MaxViT")
    table = state_dict.get("stages.0.blocks.0.attn_block.attn.rel_pos.relative_position_bias_table")
    if table is None:
        raise ValueError("not a timm MaxViT (tf) state dict: no relative_position_bias_table in stage 1")
    hidden = state_dict.get("head.pre_logits.fc.weight")
    fc = state_dict.get("head.fc.weight")
    model = MaxViT(
        tuple(depths),
        tuple(dims),
        stem_width=state_dict["stem.conv1.weight"].shape[0],
        head_hidden=dims[-1] if hidden is None else hidden.shape[0],
        num_classes=1000 if fc is None else fc.shape[0],
        in_chans=state_dict["stem.conv1.weight"].shape[1],
        image_size=image_size,
        window=(table.shape[-1] + 1) // 2,
        dim_head=dims[0] // table.shape[0],
        fused=fused,
    )
    return load_exact(model, state_dict, "timm MaxViT state dict")  # type: ignore[return-value]


def multiply_adds(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Multiply-adds of one forward pass per example: ``torch.utils.flop_counter``'s FLOPs / 2,
    which count the convolutions, the linear layers and the attention's QKᵀ and AV matmuls (on
    the explicit path; build the model with ``fused=False``). Run it on the meta device: shapes only."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(input_shape, device=device))
    return counter.get_total_flops() / 2 / input_shape[0]


# ---- claim 1: the cost of the attention operator, multi-axis against full global -------------------


def _attend(seqs: Tensor, heads: int, fused: bool) -> Tensor:
    """softmax(QKᵀ/√d)V within each sequence, Q = K = V = the tokens split into heads:
    (sequences, S, C) → (sequences, S, C)."""
    n, s, c = seqs.shape
    q = seqs.view(n, s, heads, c // heads).transpose(1, 2)  # (sequences, h, S, d)
    out, _ = scaled_dot_product_attention(q, q, q, fused=fused)
    return out.transpose(1, 2).reshape(n, s, c)


def multi_axis_attention(x: Tensor, heads: int, window: int, grid: int, fused: bool = True) -> Tensor:
    """Max-SA's spatial mixing alone on a (B, H, W, C) map: block attention in P × P windows, then
    grid attention along a G × G grid (no projections, no bias: the operator whose cost grows
    with the map; the projections and MLPs cost the same per pixel in every scheme)."""
    _, h, w, _ = x.shape
    x = block_reverse(_attend(block_partition(x, window), heads, fused), window, h, w)
    return grid_reverse(_attend(grid_partition(x, grid), heads, fused), grid, h, w)


def full_attention(x: Tensor, heads: int, fused: bool = True) -> Tensor:
    """Global self-attention over all H·W pixels of a (B, H, W, C) map, as ViT's."""
    b, h, w, c = x.shape
    return _attend(x.reshape(b, h * w, c), heads, fused).view(b, h, w, c)


def fit_exponent(pixels: list[float], costs: list[float]) -> float:
    """The least-squares slope of log cost against log pixels: cost ∝ pixels^slope."""
    xs, ys = [math.log(p) for p in pixels], [math.log(c) for c in costs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def cpu_seconds(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median CPU seconds of ``fn()`` on the calling thread (``time.thread_time``) over ``repeats``
    calls, after ``warmup`` calls. Run with one intra-op thread, this is the computation's own
    time: other programs sharing the cores pause it without adding to it, as they do to wall time."""
    return timed(fn, repeats, warmup, clock=time.thread_time)


def measure_attention_cost(
    sides: tuple[int, ...],
    channels: int,
    heads: int,
    window: int,
    batch: int,
    repeats: int,
    generator: torch.Generator | None = None,
) -> dict[str, dict[str, list[float]]]:
    """FLOPs and seconds of ``multi_axis_attention`` (P = G = ``window``) and ``full_attention``
    on side × side maps of ``channels`` channels, per image.

    FLOPs: ``torch.utils.flop_counter`` over the explicit path (its two matmuls per attention,
    QKᵀ and AV; the CPU's fused kernel is not counted by it), on the meta device, so nothing is
    computed. Seconds: ``cpu_seconds`` of the fused kernel on one thread, on real numbers, without
    autograd, after one untimed call of each operator.
    """
    from torch.utils.flop_counter import FlopCounterMode

    ops = {
        "multi_axis": lambda x, fused: multi_axis_attention(x, heads, window, window, fused),
        "full": lambda x, fused: full_attention(x, heads, fused),
    }
    cost: dict[str, dict[str, list[float]]] = {
        name: {"pixels": [], "flops": [], "seconds": []} for name in ops
    }
    for side in sides:
        for name, op in ops.items():
            with FlopCounterMode(display=False) as counter:
                op(torch.empty(batch, side, side, channels, device="meta"), False)
            cost[name]["pixels"].append(side * side)
            cost[name]["flops"].append(counter.get_total_flops() / batch)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            first = torch.randn(batch, sides[0], sides[0], channels, generator=generator)
            for op in ops.values():  # the process's first attention calls pay one-off costs: not timed
                op(first, True)
            for side in sides:
                x = torch.randn(batch, side, side, channels, generator=generator)
                for name, op in ops.items():
                    cost[name]["seconds"].append(cpu_seconds(lambda op=op, x=x: op(x, True), repeats) / batch)
    finally:
        torch.set_num_threads(threads)
    return cost


# ---- claim 2: a task whose label is the global layout ------------------------------------------------

KINDS = ("disk", "square", "triangle", "plus")  # shapes of landmarks.data.shapes, each with its colour
KIND_COLOURS = torch.tensor([[0.9, 0.2, 0.2], [0.2, 0.75, 0.2], [0.25, 0.35, 0.95], [0.95, 0.85, 0.2]])
LAYOUTS = ("rows", "columns", "diagonals")
# for each layout, which of the image's two kinds sits at the formation's corners (TL, TR, BL, BR)
_PAIRING = torch.tensor([[0, 0, 1, 1], [0, 1, 0, 1], [0, 1, 1, 0]])
_CORNERS = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.5, 0.0], [0.5, 0.5]])  # (row, col), in image sides


@dataclass
class LayoutBatch:
    images: Tensor  # (N, 3, S, S) in [0, 1]
    labels: Tensor  # (N,) index into LAYOUTS
    kinds: Tensor  # (N, 4) index into KINDS, at the corners TL, TR, BL, BR
    origins: Tensor  # (N, 2) the TL shape's centre (row, col) in pixels


def layout_batch(n: int, generator: torch.Generator, size: int = 48) -> LayoutBatch:
    """``n`` images of four shapes on a torus, the label being which of them pair up.

    Each image shows two kinds of shape (a kind is a shape in its own colour), two of each, at the
    corners of a square whose side is half the image, placed anywhere: the picture wraps around
    at its edges, so no pixel is nearer an edge than another. The label says where the pairs
    are: side by side in each row, one above the other in each column, or diagonally opposite.
    Every image, whatever its label, holds the same shapes in the same numbers, and each shape
    is half an image away from the others: only relations across the image give the label.
    Shapes are 2.5 to 3.5 pixels in scale (at most 4.2 pixels from their centre to their
    farthest point, a square's corner), at random angles, on a grey background.
    """
    from landmarks.data.shapes import SHAPES

    g = generator
    labels = torch.randint(0, len(LAYOUTS), (n,), generator=g)
    first = torch.randint(0, len(KINDS), (n,), generator=g)
    second = (first + torch.randint(1, len(KINDS), (n,), generator=g)) % len(KINDS)  # a different kind
    kinds = torch.where(_PAIRING[labels] == 0, first[:, None], second[:, None])  # (N, 4)
    origins = size * torch.rand(n, 2, generator=g)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")  # (S, S)
    image = torch.full((n, 3, size, size), 0.5)  # a grey background
    for corner in range(4):
        centre = origins + size * _CORNERS[corner]  # (N, 2)
        scale = 2.5 + torch.rand(n, generator=g)[:, None, None]  # 2.5 to 3.5 pixels
        theta = 2 * math.pi * torch.rand(n, generator=g)
        cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
        # the shortest offset to the centre on the torus, then the shape's own frame (u, v)
        oy = (ys - centre[:, 0, None, None] + size / 2) % size - size / 2  # (N, S, S)
        ox = (xs - centre[:, 1, None, None] + size / 2) % size - size / 2
        u, v = (cos * ox + sin * oy) / scale, (-sin * ox + cos * oy) / scale
        sdf = torch.empty(n, size, size)
        for k, name in enumerate(KINDS):
            at = kinds[:, corner] == k
            if at.any():
                sdf[at] = SHAPES[name](u[at], v[at])
        coverage = (0.5 + sdf * scale).clamp(0, 1)[:, None]  # signed distance in pixels → anti-aliased
        image = image + coverage * (KIND_COLOURS[kinds[:, corner]][:, :, None, None] - image)
    return LayoutBatch(image, labels, kinds, origins)


def toy_maxvit(cfg: Config, second: Literal["grid", "block"]) -> MaxViT:
    """The toy of ``reproduce``: the two-conv stem, one stage of MaxViT blocks with P = G, the
    head; convolutions pad circularly (the images are tori), relative position tables start
    with a spread of ``cfg.rel_pos_std``. ``second="block"``: the block-only twin, every grid
    attention replaced by a block attention of the same parameter shapes."""
    model = MaxViT(
        depths=(cfg.depth,),
        dims=(cfg.dim,),
        stem_width=cfg.stem_width,
        head_hidden=cfg.dim,
        num_classes=len(LAYOUTS),
        image_size=cfg.image_size,
        window=cfg.window,
        grid=cfg.window,
        dim_head=cfg.dim_head,
        second=second,
        padding_mode="circular",
    )
    for m in model.modules():
        if isinstance(m, RelativePositionBias):
            nn.init.normal_(m.relative_position_bias_table, std=cfg.rel_pos_std)
    return model


# ---- the experiment -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    # claim 1: the attention operator alone, on side × side maps of MaxViT-T's first stage
    cost_sides: tuple[int, ...] = (32, 48, 64, 96)  # 1024 to 9216 pixels
    cost_channels: int = 64  # 2 heads of 32, as MaxViT-T's first stage
    cost_heads: int = 2
    cost_partition: int = 16  # P = G: 256 pixels per window and per grid group
    cost_batch: int = 1
    cost_repeats: int = 5
    # claim 2: the layout task
    image_size: int = 48
    window: int = 2  # P = G: a grid of 2 × 2 links pixels half an image apart, as the four shapes are
    stem_width: int = 8
    dim: int = 32
    depth: int = 1  # MaxViT blocks in the one stage
    dim_head: int = 8
    rel_pos_std: float = 3.0  # the relative position tables' initial spread (timm: 0.02; see the notes)
    batch: int = 64
    steps: int = 500
    lr: float = 1e-3
    weight_decay: float = 0.05
    n_test: int = 600
    eval_every: int = 50

    def validate(self) -> None:
        positive = (
            "cost_channels",
            "cost_heads",
            "cost_partition",
            "cost_batch",
            "cost_repeats",
            "stem_width",
            "dim",
            "depth",
            "dim_head",
            "batch",
            "steps",
            "n_test",
            "eval_every",
            "window",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if len(self.cost_sides) < 2 or min(self.cost_sides) < 1:
            raise ValueError(
                f"cost_sides needs at least two positive sides to fit an exponent, got {self.cost_sides}"
            )
        for side in self.cost_sides:
            if side % self.cost_partition:
                raise PartitionError(
                    f"cost_sides: a {side}×{side} map does not divide into {self.cost_partition}×"
                    f"{self.cost_partition} windows (cost_partition); use multiples of {self.cost_partition}"
                )
        if self.cost_channels % self.cost_heads:
            raise ValueError(
                f"cost_channels={self.cost_channels} is not a multiple of cost_heads={self.cost_heads}"
            )
        if self.dim % self.dim_head:
            raise ValueError(f"dim={self.dim} is not a multiple of dim_head={self.dim_head}")
        check_image_size(self.image_size, 1, self.window, self.window)
        if self.rel_pos_std < 0:
            raise ValueError(f"rel_pos_std must be >= 0, got {self.rel_pos_std}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")


PRESETS = {
    "default": Config(),
    "quick": Config(
        cost_sides=(16, 32, 48, 64),
        cost_repeats=1,
        image_size=32,
        dim=16,
        batch=8,
        steps=4,
        n_test=64,
        eval_every=2,
    ),
}


def reproduce(cfg: Config, run: Run) -> None:
    from landmarks.engine import fit
    from landmarks.engine.seeding import derive_seed

    cfg.validate()

    # ---- claim 1: cost against pixels, multi-axis and full attention side by side
    cost = measure_attention_cost(
        cfg.cost_sides,
        cfg.cost_channels,
        cfg.cost_heads,
        cfg.cost_partition,
        cfg.cost_batch,
        cfg.cost_repeats,
        run.generator("cost"),
    )
    exponents = {
        f"{name}_{what}": fit_exponent(c["pixels"], c[what])
        for name, c in cost.items()
        for what in ("flops", "seconds")
    }
    run.metric("attention_cost", cost)
    run.metric("attention_cost_exponents", exponents)
    for name, c in cost.items():
        run.log(
            f"{name} attention: FLOPs ∝ pixels^{exponents[f'{name}_flops']:.2f}, seconds ∝ "
            f"pixels^{exponents[f'{name}_seconds']:.2f} ({', '.join(f'{s * 1e3:.1f}' for s in c['seconds'])} ms)"
        )

    # ---- MaxViT-T's size and cost, counted on the meta device (shapes only)
    with torch.device("meta"):
        tiny = maxvit_tiny_tf_224(fused=False)
    tiny_params, tiny_macs = count_params(tiny), multiply_adds(tiny, (1, 3, 224, 224))
    run.metric("maxvit_tiny_parameters", tiny_params)
    run.metric("maxvit_tiny_multiply_adds", tiny_macs)

    # ---- claim 2: the layout task, block + grid against block only, same weights at the start
    test = layout_batch(cfg.n_test, run.generator("test"), cfg.image_size)
    x_test, y_test = _standardize(test.images).to(run.device), test.labels.to(run.device)

    def batch_fn(step: int) -> tuple[Tensor, Tensor]:  # the same images, in the same order, for both
        b = layout_batch(cfg.batch, run.generator("train", step), cfg.image_size)
        return _standardize(b.images).to(run.device), b.labels.to(run.device)

    def loss_fn(model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, float]]:
        x, y = batch
        logits = model(x)
        return F.cross_entropy(logits, y), {"acc": (logits.argmax(1) == y).float().mean().item()}

    def eval_fn(model: nn.Module) -> dict[str, float]:
        return {"test_accuracy": top1_accuracy(model, x_test, y_test)}

    histories: dict[str, History] = {}
    accuracy, params = {}, {}
    for name in ("block_grid", "block_only"):
        torch.manual_seed(derive_seed(run.seed, run.paper, "init"))  # both start from the same weights
        model = toy_maxvit(cfg, "grid" if name == "block_grid" else "block").to(run.device)
        params[name] = count_params(model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        histories[name] = fit(
            run,
            name,
            model,
            optimizer,
            steps=cfg.steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            eval_fn=eval_fn,
            eval_every=cfg.eval_every,
        )
        accuracy[name] = histories[name].evals[-1]["test_accuracy"]
        run.log(f"{name}: {params[name]} parameters, test accuracy {accuracy[name]:.3f}")
    gap = 100 * (accuracy["block_grid"] - accuracy["block_only"])
    run.metric("layout_chance", 1 / len(LAYOUTS))
    run.metric("layout_parameters", params)
    for name, h in histories.items():
        run.metric(f"{name}_test_accuracy", accuracy[name])
        run.metric(f"{name}_train_seconds", round(h.seconds, 2))
        run.metric(
            f"{name}_test_accuracy_curve",
            {"step": [e["step"] for e in h.evals], "accuracy": [e["test_accuracy"] for e in h.evals]},
        )
    run.metric("layout_gap_points", gap)

    run.check(CARD.claims[0], exponents["multi_axis_flops"])
    run.check(CARD.claims[1], exponents["full_flops"])
    run.check(CARD.claims[2], exponents["multi_axis_seconds"])
    run.check(CARD.claims[3], exponents["full_seconds"])
    run.check(CARD.claims[4], gap)
    run.check(CARD.claims[5], tiny_params / 1e6)
    run.check(CARD.claims[6], tiny_macs / 1e9)

    _plot_cost(run, cost, exponents)
    _plot_training(run, histories, params)
    _plot_layouts(run, layout_batch(12, run.generator("figure"), cfg.image_size), cfg.window)


def _standardize(images: Tensor) -> Tensor:
    return (images - 0.5) / 0.25


# ---- figures ---------------------------------------------------------------------------------------

_COLORS = {"multi_axis": "tab:blue", "full": "tab:red", "block_grid": "tab:blue", "block_only": "tab:orange"}
_LABELS = {
    "multi_axis": "block + grid (Max-SA)",
    "full": "full global attention",
    "block_grid": "block + grid attention",
    "block_only": "block attention only",
}


def _plot_cost(run: Run, cost: dict[str, dict[str, list[float]]], exponents: dict[str, float]) -> None:
    from landmarks.plots import plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    panels = (
        ("flops", "FLOPs per image", "FLOPs"),
        ("seconds", "CPU seconds per image, one thread", "seconds"),
    )
    for ax, (what, unit, title) in zip(axes, panels):
        for name, c in cost.items():
            k = exponents[f"{name}_{what}"]
            ax.loglog(
                c["pixels"], c[what], "o-", color=_COLORS[name], label=f"{_LABELS[name]}: ∝ pixels^{k:.2f}"
            )
        ax.set(xlabel="pixels of the feature map (H·W)", ylabel=unit, title=f"attention operator, {title}")
        ax.legend(fontsize=8)
    run.save_figure(
        fig,
        "attention_cost",
        "Cost of the attention operator alone (softmax(QKᵀ/√d)V over the groups each scheme forms) at "
        "four resolutions, log-log, with the fitted exponents: block + grid attention grows linearly "
        "with the pixels, full global attention quadratically.",
    )


def _plot_training(run: Run, histories: dict[str, History], params: dict[str, int]) -> None:
    from landmarks.plots import plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, h in histories.items():
        label = f"{_LABELS[name]} ({params[name] / 1e3:.0f} k parameters)"
        ax_loss.plot(h.step, h.loss, color=_COLORS[name], lw=0.7, label=label)
        steps = [e["step"] for e in h.evals]
        ax_acc.plot(
            steps, [e["test_accuracy"] for e in h.evals], "o-", ms=3, color=_COLORS[name], label=label
        )
    ax_loss.axhline(math.log(len(LAYOUTS)), color="gray", ls=":", label="chance (ln 3)")
    ax_loss.set(xlabel="training step", ylabel="cross-entropy (train batch)", title="training loss")
    ax_acc.axhline(1 / len(LAYOUTS), color="gray", ls=":", label="chance")
    ax_acc.set(xlabel="training step", ylabel="test accuracy", title="which shapes pair up", ylim=(0, 1.05))
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
    run.save_figure(
        fig,
        "layout_training",
        "The same toy MaxViT with block + grid attention and with block attention only (identical "
        "parameter shapes, the same initial weights and batches) on the layout task.",
    )


def _plot_layouts(run: Run, batch: LayoutBatch, window: int) -> None:
    from landmarks.plots import plt

    size = batch.images.shape[-1]
    fig, axes = plt.subplots(2, 6, figsize=(11, 4.2))
    for ax, image, label in zip(axes.flat, batch.images, batch.labels):
        ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest", extent=(0, size, size, 0))
        ax.set_title(LAYOUTS[int(label)], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    # first panel: the windows a block attention sees (4 pixels per token after the stem and the
    # stage's stride) and the one grid group that holds the top-left shape's token
    ax, pixels = axes.flat[0], 4 * window
    for line in range(pixels, size, pixels):
        ax.axhline(line, color="white", lw=0.4, alpha=0.7)
        ax.axvline(line, color="white", lw=0.4, alpha=0.7)
    token = (batch.origins[0] // 4) * 4 + 2  # the centre of the token under the top-left shape
    for corner in range(4):
        y, x = (token + size * _CORNERS[corner]) % size
        ax.plot(float(x), float(y), "o", ms=7, mfc="none", mec="white", mew=1.2)
    run.save_figure(
        fig,
        "layout_examples",
        "The layout task: four shapes, two kinds, on a torus (the picture wraps around); the label "
        "says whether the pairs lie in rows, in columns or on the diagonals. First panel: the block "
        "attention's windows (lines) and one grid group (circles), the four pixels half an image "
        "apart that a grid attention mixes.",
    )
