"""Deep Residual Learning for Image Recognition.

Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun. CVPR 2016. arXiv:1512.03385.

Deeper plain networks train *worse*: a 56-layer plain net ends with higher training error than
a 20-layer one (the degradation problem, Fig. 1), so the trouble is optimization, not
overfitting. Letting each block learn a residual F(x) = H(x) - x and adding the input back
through an identity shortcut (Eq. 1) removes it: the deeper residual net trains at least as
well as the shallower one (Fig. 6).

This module, in the paper's order: the residual block with its shortcuts (Sec. 3.2, options
A and B of Sec. 4.1), the bottleneck block (Fig. 5), the ImageNet ResNets of Table 1 (parameter
names match torchvision, so its state dicts load as they are), the CIFAR ResNet-(6n+2) and its
plain twin (Sec. 4.2), a multiply-add counter, and the degradation experiment at toy scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from landmarks.nn.counting import count_macs, count_params
from landmarks.nn.interop import load_exact
from landmarks.registry import Card, ClaimSpec

if TYPE_CHECKING:
    from landmarks.engine import History, Run

CARD = Card(
    citation=(
        "Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun. Deep Residual Learning for Image "
        "Recognition. CVPR 2016. arXiv:1512.03385."
    ),
    takeaways=[
        "Degradation: past some depth, adding layers to a plain net raises its *training* error, "
        "so the deeper net is harder to optimize, not overfitting (Fig. 1, Fig. 6 left).",
        "A block that learns the residual F(x) = H(x) - x and adds x back through an identity "
        "shortcut (Eq. 1) makes the deeper net train at least as well as the shallower one.",
        "Identity shortcuts cost nothing: option A pads zeros for new channels and adds no "
        "parameters; 1×1 projections (option B) are only needed where dimensions change.",
        "The bottleneck block (1×1, 3×3, 1×1) keeps ResNet-50/101/152 cheap: ResNet-152 has "
        "fewer multiply-adds than VGG-16/19 (11.3 vs 15.3/19.6 billion FLOPs).",
    ],
    claims=[
        ClaimSpec(
            statement="Degradation: the 56-layer plain net ends with higher training loss than "
            "the 20-layer plain net (ratio plain-56 / plain-20 of final training loss)",
            threshold="> 1",
            paper_value="CIFAR-10: plain-56 training error above plain-20 throughout (Fig. 1, Fig. 6 left)",
        ),
        ClaimSpec(
            statement="Residual learning removes it: ResNet-56 ends at or below ResNet-20 in "
            "training loss (ratio ResNet-56 / ResNet-20 of final training loss)",
            threshold="<= 1",
            paper_value="CIFAR-10: ResNet-56 training error below ResNet-20 (Fig. 6 middle)",
        ),
        ClaimSpec(
            statement="ResNet-50 (Table 1) has 25.6 M parameters (millions, counted)",
            threshold="in [25.5, 25.7]",
            paper_value="25.6 M (torchvision resnet50: 25,557,032)",
        ),
        ClaimSpec(
            statement="ResNet-50 costs about 4 billion multiply-adds on a 224×224 image "
            "(GMACs, counted with forward hooks on every conv and linear layer)",
            threshold="in [3.9, 4.3]",
            paper_value="3.8 × 10⁹ FLOPs (multiply-adds, Table 1); torchvision: 4.09 GFLOPS",
        ),
    ],
    keeps=[
        "The exact architectures: CIFAR ResNet-(6n+2) with option A (or B) shortcuts and its plain "
        "twin (Sec. 4.2), ImageNet ResNet-18/34/50/101/152 (Table 1).",
        "The degradation experiment's design: plain and residual nets of 20 and 56 layers, same "
        "recipe for all four (SGD, momentum 0.9, weight decay 1e-4, BN after every conv).",
        "Training loss compared at equal steps, as Fig. 6 compares training error at equal iterations.",
        "Translation augmentation (the paper pads 4 pixels and crops at random).",
    ],
    shrinks=[
        "CIFAR-10 (50k 32×32 colour images) → scikit-learn digits (1,437 training 8×8 images, "
        "upsampled to 16×16, grey).",
        "64k iterations at batch 128 → 250 steps at batch 64; learning rate 0.1 with step decay "
        "→ 0.01 with 30 warm-up steps and cosine decay (see notes).",
        "Width stays 16/32/64, but the feature maps are 16/8/4 pixels instead of 32/16/8.",
        "ImageNet training (Tables 3-4) is not rerun; the ImageNet nets are checked by loading "
        "torchvision's state dicts (identical logits; the tests use randomly initialized ones), "
        "parameter counts and multiply-adds.",
    ],
    figures={
        "ResNet-18 params / FLOPs (paper) / top-1 (torchvision)": "11.7 M / 1.8 G / 69.76 %",
        "ResNet-34 params / FLOPs / top-1": "21.8 M / 3.6 G / 73.31 %",
        "ResNet-50 params / FLOPs / top-1": "25.6 M / 3.8 G (torchvision v1.5: 4.1 G) / 76.13 %",
        "ResNet-101 params / FLOPs / top-1": "44.5 M / 7.6 G / 77.37 %",
        "ResNet-152 params / FLOPs / top-1": "60.2 M / 11.3 G / 78.31 %",
        "ImageNet 10-crop top-1 error, plain-34 / ResNet-34 B (Table 3)": "28.54 % / 24.52 %",
        "CIFAR-10 ResNet-20 / 56 / 110 params (Table 6)": "0.27 M / 0.85 M / 1.7 M",
        "CIFAR-10 test error, ResNet-20 / 56 / 110 (Table 6)": "8.75 % / 6.97 % / 6.43 %",
        "ILSVRC 2015 classification, ensemble top-5 error": "3.57 %",
    },
    notes=(
        "Training loss is the mean cross-entropy of the training batches over the last tenth of "
        "the steps, in train mode (BatchNorm on batch statistics), as training error is "
        "measured during training in the paper; the whole training set's loss in eval mode is "
        "recorded beside it. The second claim depends on the learning rate at this budget. The "
        "paper's 0.1 makes ResNet-56 unstable around the end of warm-up (the paper, too, warms "
        "ResNet-110 up at 0.01: 0.1 is 'slightly too large to start converging'), and 300 steps "
        "later it still ends far above ResNet-20; at 0.05 the outcome varied by seed; at 0.02 the "
        "ratio was 0.4-1.1 and at 0.01 0.43-0.90 over the seeds tried (runs of 300 steps), the "
        "deeper net lower from about step 30 on, as in Fig. 6. Plain-56 ends far above plain-20 "
        "at every rate tried. The default was then cut to 250 steps to fit the 4-minute budget "
        "on 2 CPU cores; at 250 steps seeds 0-5 gave ResNet-56 / ResNet-20 ratios of 0.42-0.78 "
        "and plain-56 / plain-20 ratios of 1.36-1.94; the committed runs of seeds 0-2 (per seed "
        "in RESULTS.md) took 161-168 s each on the slow AMD EPYC host. "
        "The ImageNet nets follow torchvision (v1.5): the stride of a bottleneck sits on its 3×3 "
        "conv, where the paper puts it on the first 1×1."
    ),
)


# ---- Sec. 3.2: identity shortcuts, and what to do when dimensions change ------------------


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


class Conv1x1(nn.Conv2d):
    """A 1×1 convolution that applies its stride by keeping every s-th pixel, then convolving.

    The numbers are those of ``nn.Conv2d(c_in, c_out, 1, stride=s)`` (a strided 1×1 conv only
    ever reads those pixels) and so are the parameter names, so torchvision's weights load
    unchanged. The two steps are explicit because oneDNN's own strided 1×1 weight gradient, which
    PyTorch picks on a CPU for channels-last inputs, writes past its workspace when the input has
    fewer channels than its vector block (8 with AVX2, 16 with AVX-512): the backward pass then
    hangs, crashes or returns wrong gradients (uxlfoundation/oneDNN#6035). Unit stride is unaffected.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1, bias: bool = False) -> None:
        super().__init__(c_in, c_out, kernel_size=1, stride=stride, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sh, sw = self.stride
        return F.conv2d(x[:, :, ::sh, ::sw], self.weight, self.bias)  # (B, C_out, ⌈H/s⌉, ⌈W/s⌉)


def conv1x1(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return Conv1x1(c_in, c_out, stride)


class ZeroPadShortcut(nn.Module):
    """Option A (Sec. 4.1): identity, with zeros padded for the new channels; no parameters.

    Across a change of map size the identity is "performed with a stride of 2": every other
    pixel is kept.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.extra, self.stride = c_out - c_in, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (B, C_in, H/s, W/s)
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # (B, C_out, H/s, W/s), new channels zero


def projection_shortcut(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """Option B: Eq. 2, y = F(x, {W_i}) + W_s x, with W_s a strided 1×1 conv (and BN)."""
    return nn.Sequential(conv1x1(c_in, c_out, stride), nn.BatchNorm2d(c_out))


def make_shortcut(c_in: int, c_out: int, stride: int, option: str) -> nn.Module | None:
    """The shortcut a block needs: None (plain identity) unless the dimensions change."""
    if stride == 1 and c_in == c_out:
        return None
    if option == "A":
        return ZeroPadShortcut(c_in, c_out, stride)
    return projection_shortcut(c_in, c_out, stride)


# ---- Fig. 2 and Fig. 5: the residual building blocks ----------------------------------------


class BasicBlock(nn.Module):
    """Fig. 5 left: two 3×3 convs. ``residual=False`` gives the plain net's block (Sec. 4.1)."""

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
        self.conv1 = conv3x3(c_in, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample  # torchvision's name for the shortcut W_s
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H/s, W/s)
        out = self.bn2(self.conv2(out))  # F(x, {W_i}) = W_2 σ(W_1 x), BN after each conv
        if self.residual:
            shortcut = x if self.downsample is None else self.downsample(x)
            out = out + shortcut  # Eq. 1: y = F(x, {W_i}) + x   (Eq. 2 with W_s)
        return self.relu(out)  # the second nonlinearity comes after the addition (Fig. 2)


class Bottleneck(nn.Module):
    """Fig. 5 right: 1×1 reduces, 3×3 works on the narrow maps, 1×1 restores (×4).

    The stride sits on the 3×3 conv (torchvision v1.5); the paper puts it on the first 1×1.
    """

    expansion = 4

    def __init__(
        self,
        c_in: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.conv1 = conv1x1(c_in, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, planes, H/s, W/s)
        out = self.bn3(self.conv3(out))  # (B, 4·planes, H/s, W/s) = F(x)
        if self.residual:
            shortcut = x if self.downsample is None else self.downsample(x)
            out = out + shortcut  # Eq. 1 / Eq. 2
        return self.relu(out)


def make_stage(
    block: type[BasicBlock] | type[Bottleneck],
    c_in: int,
    planes: int,
    blocks: int,
    stride: int,
    shortcut: str = "B",
    residual: bool = True,
) -> nn.Sequential:
    """One stage of Table 1: ``blocks`` blocks, the first one downsampling by ``stride``."""
    layers = []
    for i in range(blocks):
        s = stride if i == 0 else 1
        c_out = planes * block.expansion
        downsample = make_shortcut(c_in, c_out, s, shortcut) if residual else None
        layers.append(block(c_in, planes, s, downsample, residual))
        c_in = c_out
    return nn.Sequential(*layers)


# ---- Table 1: the ImageNet ResNets ----------------------------------------------------------


class ResNet(nn.Module):
    """Table 1. Parameter names follow torchvision, so its state dicts load unchanged."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.block_name = block.__name__
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)  # conv1
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        c, e = 64, block.expansion
        self.layer1 = make_stage(block, c, 64, layers[0], stride=1)  # conv2_x, 56×56
        self.layer2 = make_stage(block, 64 * e, 128, layers[1], stride=2)  # conv3_x, 28×28
        self.layer3 = make_stage(block, 128 * e, 256, layers[2], stride=2)  # conv4_x, 14×14
        self.layer4 = make_stage(block, 256 * e, 512, layers[3], stride=2)  # conv5_x, 7×7
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * e, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4)
        x = self.layer1(x)  # (B, 64e, H/4, W/4)
        x = self.layer2(x)  # (B, 128e, H/8, W/8)
        x = self.layer3(x)  # (B, 256e, H/16, W/16)
        x = self.layer4(x)  # (B, 512e, H/32, W/32)
        x = torch.flatten(self.avgpool(x), 1)  # (B, 512e): global average pooling
        return self.fc(x)  # (B, num_classes)


def _init_weights(model: nn.Module) -> None:
    """He (MSRA) init for convs (the paper's [13]); BN starts as the identity map."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def resnet18(num_classes: int = 1000) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)


def resnet101(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes)


def resnet152(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, (3, 8, 36, 3), num_classes)


def from_torchvision(state_dict: dict[str, torch.Tensor]) -> ResNet:
    """Build the ResNet a torchvision state dict describes and copy its weights in.

    The architecture is read off the keys (blocks per stage; bottleneck if ``conv3`` exists),
    then every key and shape must line up: nothing is dropped, renamed or left at random init.
    """
    blocks = tuple(
        1
        + max((int(m.group(1)) for k in state_dict if (m := re.match(rf"layer{i}\.(\d+)\.", k))), default=-1)
        for i in (1, 2, 3, 4)
    )
    if min(blocks) < 1:
        raise ValueError(f"not a torchvision ResNet state dict: blocks per stage {blocks}")
    block = Bottleneck if "layer1.0.conv3.weight" in state_dict else BasicBlock
    model = ResNet(block, blocks, num_classes=state_dict["fc.weight"].shape[0])
    return load_exact(model, state_dict, "torchvision ResNet state dict")  # type: ignore[return-value]


# ---- Sec. 4.2: the CIFAR nets, residual and plain --------------------------------------------


class CifarResNet(nn.Module):
    """Sec. 4.2: a 3×3 conv, then 3 stages of n blocks (2n layers each) on maps of 32, 16, 8
    pixels with 16, 32, 64 filters, global average pooling and a linear classifier: 6n+2 layers.

    ``plain=True`` is the same stack with every shortcut removed (the paper's plain baseline).
    """

    def __init__(
        self,
        depth: int,
        shortcut: str = "A",
        plain: bool = False,
        width: int = 16,
        in_channels: int = 3,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {depth}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"shortcut must be 'A' (zero-padding) or 'B' (projection), got {shortcut!r}")
        n = (depth - 2) // 6
        self.depth, self.shortcut, self.plain = depth, shortcut, plain
        self.conv1 = conv3x3(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        residual = not plain
        self.layer1 = make_stage(BasicBlock, width, width, n, 1, shortcut, residual)
        self.layer2 = make_stage(BasicBlock, width, 2 * width, n, 2, shortcut, residual)
        self.layer3 = make_stage(BasicBlock, 2 * width, 4 * width, n, 2, shortcut, residual)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (B, w, H, W)
        x = self.layer1(x)  # (B, w, H, W)
        x = self.layer2(x)  # (B, 2w, H/2, W/2)
        x = self.layer3(x)  # (B, 4w, H/4, W/4)
        x = torch.flatten(self.avgpool(x), 1)  # (B, 4w)
        return self.fc(x)  # (B, num_classes)


def cifar_resnet(
    depth: int,
    shortcut: str = "A",
    plain: bool = False,
    width: int = 16,
    in_channels: int = 3,
    num_classes: int = 10,
) -> CifarResNet:
    """ResNet-(6n+2) of Sec. 4.2 (``plain=True``: the plain net of the same depth)."""
    return CifarResNet(depth, shortcut, plain, width, in_channels, num_classes)


# ---- Counting: parameters and multiply-adds ---------------------------------------------------


# count_params and count_macs live in landmarks.nn.counting, shared by every vision entry.


# ---- The degradation experiment (Fig. 1, Fig. 6), at toy scale --------------------------------


@dataclass(frozen=True)
class Config:
    shallow: int = 20  # depths of the two nets compared, each 6n+2 (Fig. 6: 20 and 56)
    deep: int = 56
    width: int = 16  # filters in the first stage (16, 32, 64 in Sec. 4.2)
    shortcut: str = "A"  # "A": zero-padding identity (the paper's CIFAR choice), "B": projection
    image_size: int = 16  # digits are 8×8; upsampled so three stages see 16, 8, 4 pixels
    shift: int = 2  # random translation of up to ±shift pixels (the paper: pad 4 and crop at 32²)
    test_fraction: float = 0.2
    steps: int = 250
    batch_size: int = 64
    lr: float = 0.01  # Sec. 4.2 uses 0.1 (batch 128, 64k steps); see CARD.notes on the rate
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup: int = 30  # linear warm-up steps, then cosine decay to zero
    final_window: int = 25  # "final training loss" = mean batch loss over the last this many steps
    eval_every: int = 50  # test error every this many steps

    def validate(self) -> None:
        for name in ("shallow", "deep"):
            d = getattr(self, name)
            if d < 8 or (d - 2) % 6:
                raise ValueError(
                    f"{name}={d}: a CIFAR ResNet has 6n+2 layers (8, 14, 20, 32, 44, 56, 110, ...)"
                )
        if self.shallow >= self.deep:
            raise ValueError(f"shallow={self.shallow} must be below deep={self.deep}")
        if self.shortcut not in ("A", "B"):
            raise ValueError(f"shortcut={self.shortcut!r}: use A (zero-padding) or B (projection)")
        if self.image_size < 8 or self.image_size % 4:
            raise ValueError(f"image_size={self.image_size}: use a multiple of 4, at least 8")
        if not 0 <= self.shift < self.image_size // 2:
            raise ValueError(f"shift={self.shift}: use 0 to {self.image_size // 2 - 1} pixels")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction={self.test_fraction}: must lie in (0, 1)")
        for name in ("width", "steps", "batch_size", "final_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.lr <= 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise ValueError("lr must be positive, momentum in [0, 1) and weight_decay non-negative")
        if not 0 <= self.warmup < self.steps:
            raise ValueError(f"warmup={self.warmup}: must lie in [0, steps={self.steps})")
        if self.final_window > self.steps:
            raise ValueError(f"final_window={self.final_window} exceeds steps={self.steps}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every={self.eval_every}: must be >= 0 (0 turns evaluation off)")


PRESETS = {
    "default": Config(),
    "quick": Config(shallow=8, deep=14, steps=12, batch_size=32, warmup=2, final_window=4, eval_every=6),
}


def load_digits_images(size: int, test_fraction: float, seed: int) -> dict[str, torch.Tensor]:
    """scikit-learn's 1,797 handwritten digits (8×8, ships with the library), upsampled to
    ``size``×``size``, pixel values in [0, 1]; a stratified train/test split fixed by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.tensor(digits.target, dtype=torch.long)
    i_train, i_test = train_test_split(
        range(len(y)), test_size=test_fraction, stratify=digits.target, random_state=seed % 2**32
    )
    return {"x_train": x[i_train], "y_train": y[i_train], "x_test": x[i_test], "y_test": y[i_test]}


def random_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ±shift pixels, filling with background (zero-pad, crop)."""
    from landmarks.data.augment import random_crop

    return random_crop(x, shift, generator)


NETS = ("plain", "resnet")


def reproduce(cfg: Config, run: Run) -> None:
    """Train plain and residual nets of two depths with one recipe; compare training losses."""
    cfg.validate()
    data = load_digits_images(cfg.image_size, cfg.test_fraction, run.seed)
    mean, std = float(data["x_train"].mean()), float(data["x_train"].std())
    x_train, y_train = data["x_train"].to(run.device), data["y_train"].to(run.device)
    x_test = ((data["x_test"] - mean) / std).to(run.device)
    y_test = data["y_test"].to(run.device)
    n = len(y_train)
    run.log(f"digits: {n} train / {len(y_test)} test images at {cfg.image_size}×{cfg.image_size}")

    def batch_fn(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        # The same batches, in the same order, for all four nets: only the architecture differs.
        g = run.generator("batch", step)
        idx = torch.randint(n, (cfg.batch_size,), generator=g).to(run.device)
        x = random_shift(x_train[idx], cfg.shift, g)
        return (x - mean) / std, y_train[idx]

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y)

    def eval_fn(model: nn.Module) -> dict[str, float]:
        logits = model(x_test)
        return {"test_error": float((logits.argmax(1) != y_test).float().mean())}

    @torch.no_grad()
    def whole_train_set_loss(model: nn.Module) -> float:
        """Cross-entropy on every (unshifted) training image, eval mode: a cross-check of the
        batch losses that uses BatchNorm's running statistics instead of the batch's."""
        model.eval()
        x = (x_train - mean) / std
        total = sum(
            float(F.cross_entropy(model(x[i : i + 512]), y_train[i : i + 512], reduction="sum"))
            for i in range(0, n, 512)
        )
        return total / n

    from landmarks.engine import fit, warmup_cosine
    from landmarks.engine.seeding import derive_seed

    histories, finals = {}, {}
    for kind in NETS:
        for depth in (cfg.shallow, cfg.deep):
            name = f"{kind}{depth}"
            torch.manual_seed(derive_seed(run.seed, run.paper, "init", name))  # order-free init
            model = cifar_resnet(depth, cfg.shortcut, kind == "plain", cfg.width, in_channels=1)
            # NHWC: oneDNN's convolutions run ~15 % faster on a CPU; same numbers up to rounding
            model = model.to(run.device, memory_format=torch.channels_last)
            opt = torch.optim.SGD(
                model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
            hist = fit(
                run,
                name,
                model,
                opt,
                steps=cfg.steps,
                batch_fn=batch_fn,
                loss_fn=loss_fn,
                scheduler=warmup_cosine(opt, cfg.warmup, cfg.steps),
                eval_fn=eval_fn,
                eval_every=cfg.eval_every,
            )
            histories[name], finals[name] = hist, hist.final_loss(cfg.final_window)
            test_error = hist.evals[-1]["test_error"] if hist.evals else None  # None: eval_every=0
            tested = (
                "not tested (eval_every=0)" if test_error is None else f"test error {100 * test_error:.1f} %"
            )
            run.log(
                f"{name}: {count_params(model) / 1e6:.2f} M params, final train loss "
                f"{finals[name]:.4f}, {tested}, {hist.seconds:.0f} s"
            )
            run.metric(
                name,
                {
                    "params": count_params(model),
                    "final_train_loss": finals[name],
                    "train_set_loss_eval_mode": whole_train_set_loss(model),
                    "test_error": test_error,
                    "seconds": round(hist.seconds, 1),
                },
            )

    s, d = cfg.shallow, cfg.deep
    run.check(CARD.claims[0], finals[f"plain{d}"] / finals[f"plain{s}"])
    run.check(CARD.claims[1], finals[f"resnet{d}"] / finals[f"resnet{s}"])

    # Table 1's figures, counted on the real ImageNet ResNet-50.
    r50 = resnet50()
    run.check(CARD.claims[2], count_params(r50) / 1e6)
    run.check(CARD.claims[3], count_macs(r50, (1, 3, 224, 224)) / 1e9)

    plot_degradation(run, histories, finals, cfg)


def _smooth(values: list[float], k: int) -> list[float]:
    """Trailing moving average over ``k`` steps, to read the trend through batch noise."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v - (values[i - k] if i >= k else 0.0)
        out.append(acc / min(i + 1, k))
    return out


LABELS = {"plain": ("plain", "plain networks"), "resnet": ("ResNet", "ResNets")}


def plot_degradation(run: Run, histories: dict[str, History], finals: dict[str, float], cfg: Config) -> None:
    """Fig. 6 at toy scale: training loss of plain nets (left) and ResNets (right)."""
    from landmarks.plots import plt

    depths = ((cfg.shallow, "tab:orange"), (cfg.deep, "tab:red"))
    k = max(1, cfg.steps // 30)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True, layout="constrained")
    for ax, kind in zip(axes, NETS):
        label, title = LABELS[kind]
        for depth, color in depths:
            h = histories[f"{kind}{depth}"]
            ax.plot(h.step, _smooth(h.loss, k), color=color, label=f"{label}-{depth}")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend()
    axes[0].set_ylabel(f"training loss ({k}-step moving average)")
    s, d = cfg.shallow, cfg.deep
    run.save_figure(
        fig,
        "degradation",
        f"Training loss on digits ({cfg.image_size}×{cfg.image_size}), same batches and recipe for all "
        f"four nets (paper: Fig. 6). Final loss: plain-{s} {finals[f'plain{s}']:.3f}, plain-{d} "
        f"{finals[f'plain{d}']:.3f}; ResNet-{s} {finals[f'resnet{s}']:.3f}, ResNet-{d} "
        f"{finals[f'resnet{d}']:.3f}.",
    )

    if all(h.evals for h in histories.values()):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True, layout="constrained")
        for ax, kind in zip(axes, NETS):
            label, title = LABELS[kind]
            for depth, color in depths:
                ev = histories[f"{kind}{depth}"].evals
                steps, errors = [e["step"] for e in ev], [100 * e["test_error"] for e in ev]
                ax.plot(steps, errors, "o-", color=color, label=f"{label}-{depth}")
            ax.set_title(title)
            ax.set_xlabel("step")
            ax.legend()
        axes[0].set_ylabel("test error (%)")
        run.save_figure(fig, "test_error", "Held-out test error (eval mode) during training.")
