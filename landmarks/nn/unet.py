"""A small conditional UNet, the denoiser ε_θ(x_t, t, c) of ``latent-diffusion`` and ``imagine-flash``.

Ronneberger et al. (2015) for the UNet's shape; Ho et al. (2020), Appendix B, for the diffusion
UNet (a sinusoidal timestep embedding added inside every residual block, GroupNorm, self-attention
at low resolution); Rombach et al. (2022), "High-Resolution Image Synthesis with Latent Diffusion
Models", Sec. 3.3, for conditioning by cross-attention:

    Attention(Q, K, V) = softmax(QKᵀ/√d) V,  Q = W_Q φ(z_t),  K = W_K τ(y),  V = W_V τ(y)   (LDM Eq. 3)

where φ(z_t) are the UNet's features at one resolution, flattened to HW tokens, and τ(y) is a
sequence of conditioning tokens: here a learned embedding of the class label (one token, as LDM's
class-conditional ImageNet model), or any (B, S, context_dim) sequence the caller encodes.

The network, level by level (widths ``channels · channel_mult[i]``, the resolution halved
between levels):

    emb   = MLP(sinusoids(t))                                   the timestep, (B, 4C)
    down  = [ResBlock(h, emb) → SpatialTransformer(h, τ(y))?] × num_res_blocks, then a stride-2 conv
    mid   = ResBlock → SpatialTransformer → ResBlock
    up    = [concat(h, skip) → ResBlock → SpatialTransformer?] × (num_res_blocks + 1), then upsample
    out   = conv(SiLU(GroupNorm(h)))

    ResBlock(x, emb)        h = conv(SiLU(GN(x))) + W emb;  h = conv(drop(SiLU(GN(h))));  x' + h
    SpatialTransformer(x)   tokens z = proj_in(GN(x)), then z += SelfAttn(LN z); z += CrossAttn(LN z, τ(y));
                            z += GEGLU-FFN(LN z);  x + proj_out(z)

Classifier-free guidance (Ho and Salimans 2021) trains the same network unconditionally by
replacing the label with a learned null token (index ``num_classes`` of the class embedding)
with probability p: ``drop_labels``. ``null_condition`` gives the samplers in
``landmarks.nn.diffusion`` the null labels for the unconditional half of the batch.

Attention runs on the shared core, ``landmarks.nn.attention.scaled_dot_product_attention``: the
fused kernel, or with ``fused=False`` the explicit softmax(QKᵀ/√d)V (tested equal). Parameter
names follow diffusers where it has one (``conv_in``, ``time_embedding``, ``resnets``,
``time_emb_proj``, ``conv_shortcut``, ``to_q``/``to_k``/``to_v``/``to_out``, ``proj_in``/``proj_out``);
the layout is this module's own, not diffusers' ``UNet2DConditionModel``.

Public API::

    UNetConfig(in_channels=3, out_channels=None, channels=64, channel_mult=(1, 2, 2), num_res_blocks=2,
               attention_levels=None, num_heads=4, norm_groups=32, dropout=0.0, num_classes=0,
               context_dim=None, fused=True)
    UNet(config=None, **overrides);  UNet(...)(x, t, cond=None) -> (B, out_channels, H, W)
        .null_condition(labels), .drop_labels(labels, p, generator=None), .context(cond, batch)
    timestep_embedding(t, dim, max_period=10000)
    drop_labels(labels, p, null_label, generator=None)
    ResBlock, Downsample, Upsample (the autoencoder's too), Attention, SpatialTransformer
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.nn.attention import scaled_dot_product_attention
from landmarks.nn.diffusion import DiffusionInputError

__all__ = [
    "Attention",
    "Downsample",
    "ResBlock",
    "SpatialTransformer",
    "UNet",
    "UNetConfig",
    "Upsample",
    "drop_labels",
    "timestep_embedding",
]


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """(B,) timesteps (ints or reals) → (B, dim): [cos(t ω_i), sin(t ω_i)], ω_i = max_period^(−i/(dim/2)).

    The Transformer's sinusoidal positions (Vaswani et al. Sec. 3.5) of the timestep, as DDPM
    (Appendix B) and LDM embed it, cosines first; an odd ``dim`` gets a zero last column.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]  # (B, dim/2)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def drop_labels(
    labels: Tensor, p: float, null_label: int, generator: torch.Generator | None = None
) -> Tensor:
    """Each label replaced by ``null_label`` with probability p: classifier-free guidance's joint
    training of the conditional and unconditional model (Ho and Salimans, Algorithm 1)."""
    if not 0.0 <= p <= 1.0:
        raise DiffusionInputError(f"label drop probability p={p} must be in [0, 1]")
    where = generator.device if generator is not None else labels.device
    drop = torch.rand(labels.shape, generator=generator, device=where).to(labels.device) < p
    return torch.where(drop, torch.full_like(labels, null_label), labels)


# ---- building blocks ------------------------------------------------------------------------------


class ResBlock(nn.Module):
    """h = conv₁(SiLU(GN(x))) [+ W·SiLU(emb)];  h = conv₂(Dropout(SiLU(GN(h))));  shortcut(x) + h.

    The timestep embedding enters as a per-channel bias after the first convolution (DDPM's
    ``Wide ResNet`` blocks); ``temb_channels=None`` (the autoencoder) leaves it out. The shortcut is
    a 1×1 convolution when the width changes.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        temb_channels: int | None = None,
        dropout: float = 0.0,
        groups: int = 32,
    ) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels) if temb_channels else None
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, H, W)
        if self.time_emb_proj is not None and emb is not None:
            h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None]  # the timestep, per channel
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        shortcut = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return shortcut + h


class Downsample(nn.Module):
    """Halve the resolution with a 3×3 convolution of stride 2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour, then a 3×3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Attention(nn.Module):
    """Multi-head attention of (B, T, query_dim) queries over (B, S, context_dim) keys and values
    (the queries themselves without a context: self-attention). LDM Eq. 3 with h heads:
    Q = x W_Q, K = τ(y) W_K, V = τ(y) W_V, out = Concat(softmax(Q_i K_iᵀ/√d) V_i) W_O."""

    def __init__(self, query_dim: int, context_dim: int | None = None, heads: int = 4, fused: bool = True):
        super().__init__()
        if query_dim % heads:
            raise DiffusionInputError(f"attention width {query_dim} is not divisible by {heads} heads")
        context_dim = context_dim or query_dim
        self.heads, self.head_dim, self.fused = heads, query_dim // heads, fused
        self.to_q = nn.Linear(query_dim, query_dim, bias=False)  # W_Q
        self.to_k = nn.Linear(context_dim, query_dim, bias=False)  # W_K
        self.to_v = nn.Linear(context_dim, query_dim, bias=False)  # W_V
        self.to_out = nn.Linear(query_dim, query_dim)  # W_O

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)  # (B, h, N, d)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        context = x if context is None else context
        q, k, v = self._heads(self.to_q(x)), self._heads(self.to_k(context)), self._heads(self.to_v(context))
        out, _ = scaled_dot_product_attention(q, k, v, fused=self.fused)  # (B, h, T, d)
        b, _, t, _ = out.shape
        return self.to_out(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class GEGLUFeedForward(nn.Module):
    """FFN(x) = W_2 (x W_a ⊙ GELU(x W_b)): the gated feed-forward of LDM's transformer blocks
    (Shazeer 2020, "GLU Variants Improve Transformer")."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, 2 * mult * dim)  # W_a; W_b
        self.out = nn.Linear(mult * dim, dim)  # W_2

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return self.out(value * F.gelu(gate))


class TransformerBlock(nn.Module):
    """z += SelfAttn(LN z);  z += CrossAttn(LN z, τ(y)) (if there is a context);  z += FFN(LN z)."""

    def __init__(self, dim: int, heads: int, context_dim: int | None, fused: bool = True) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, None, heads, fused)
        self.norm2 = nn.LayerNorm(dim) if context_dim else None
        self.attn2 = Attention(dim, context_dim, heads, fused) if context_dim else None
        self.norm3 = nn.LayerNorm(dim)
        self.ff = GEGLUFeedForward(dim)

    def forward(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        z = z + self.attn1(self.norm1(z))  # every pixel attends every pixel
        if self.attn2 is not None and self.norm2 is not None:
            if context is None:
                raise ValueError("this block cross-attends: it needs context tokens (B, S, context_dim)")
            z = z + self.attn2(self.norm2(z), context)  # LDM Eq. 3: pixels query the condition
        return z + self.ff(self.norm3(z))


class SpatialTransformer(nn.Module):
    """A (B, C, H, W) feature map as HW tokens through one ``TransformerBlock``, with a residual
    around the whole (LDM's ``SpatialTransformer``)."""

    def __init__(
        self, channels: int, heads: int, context_dim: int | None, groups: int = 32, fused: bool = True
    ) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(channels, heads, context_dim, fused)])
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        b, c, h, w = x.shape
        z = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C), pixels in row-major order
        z = self.proj_in(z)
        for block in self.transformer_blocks:
            z = block(z, context)
        z = self.proj_out(z).transpose(1, 2).reshape(b, c, h, w)
        return x + z


# ---- the UNet --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 3
    out_channels: int | None = None  # None: in_channels (ε has the sample's shape)
    channels: int = 64  # C, the width at full resolution
    channel_mult: tuple[int, ...] = (1, 2, 2)  # level i has width C · channel_mult[i]
    num_res_blocks: int = 2  # per level on the way down (one more on the way up)
    # levels (0: full resolution) with a SpatialTransformer after each ResBlock; None: the lowest
    # level only. The middle block always has one.
    attention_levels: tuple[int, ...] | None = None
    num_heads: int = 4
    norm_groups: int = 32  # GroupNorm's groups; must divide every width
    dropout: float = 0.0
    # > 0: class-conditional; labels 0..num_classes−1 embed to one context token each, and label
    # num_classes is the learned null token of classifier-free guidance
    num_classes: int = 0
    # the context tokens' width; None: the lowest level's width when class-conditional, and no
    # cross-attention (an unconditional UNet) otherwise
    context_dim: int | None = None
    fused: bool = True  # F.scaled_dot_product_attention; False: the explicit softmax(QKᵀ/√d)V

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(self.channels * m for m in self.channel_mult)

    @property
    def levels_with_attention(self) -> tuple[int, ...]:
        return (len(self.channel_mult) - 1,) if self.attention_levels is None else self.attention_levels

    @property
    def context_width(self) -> int | None:
        if self.context_dim is not None:
            return self.context_dim
        return self.widths[-1] if self.num_classes > 0 else None

    @property
    def factor(self) -> int:
        """How much the lowest level is smaller than the input: H and W must be multiples of it."""
        return 2 ** (len(self.channel_mult) - 1)

    def validate(self) -> None:
        for name in ("in_channels", "channels", "num_res_blocks", "num_heads", "norm_groups"):
            if getattr(self, name) < 1:
                raise DiffusionInputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.channel_mult or min(self.channel_mult) < 1:
            raise DiffusionInputError(f"channel_mult must be positive integers, got {self.channel_mult}")
        for width in {self.channels, *self.widths}:
            if width % self.norm_groups:
                raise DiffusionInputError(
                    f"width {width} is not divisible by norm_groups={self.norm_groups} (GroupNorm's groups)"
                )
            if width % self.num_heads:
                raise DiffusionInputError(f"width {width} is not divisible by num_heads={self.num_heads}")
        levels = len(self.channel_mult)
        bad = [i for i in self.levels_with_attention if not 0 <= i < levels]
        if bad:
            raise DiffusionInputError(f"attention_levels {bad} are not levels of this UNet (0..{levels - 1})")
        if self.num_classes < 0:
            raise DiffusionInputError(
                f"num_classes must be >= 0 (0: no class embedding), got {self.num_classes}"
            )
        if self.context_dim is not None and self.context_dim < 1:
            raise DiffusionInputError(f"context_dim must be >= 1, got {self.context_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise DiffusionInputError(f"dropout must be in [0, 1), got {self.dropout}")


class _Level(nn.Module):
    """One resolution: ResBlocks, each followed by a SpatialTransformer or nothing, then a resampler."""

    def __init__(self, resnets: list[ResBlock], attentions: list[nn.Module], resample: nn.Module) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList(attentions)
        self.resample = resample


class UNet(nn.Module):
    """ε_θ(x_t, t, c): (B, in_channels, H, W), (B,) timesteps and a condition → (B, out_channels, H, W).

    ``cond`` is None (the null token of a class-conditional model; nothing for an unconditional
    one), class labels (B,) in 0..num_classes (num_classes: null), or context tokens
    (B, S, context_dim).
    """

    def __init__(self, config: UNetConfig | None = None, **overrides: object) -> None:
        super().__init__()
        cfg = replace(config or UNetConfig(), **overrides)  # type: ignore[arg-type]
        cfg.validate()
        self.config = cfg
        c, groups, heads, ctx = cfg.channels, cfg.norm_groups, cfg.num_heads, cfg.context_width
        temb = 4 * c
        self.time_embedding = nn.Sequential(nn.Linear(c, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.class_embedding = nn.Embedding(cfg.num_classes + 1, ctx) if cfg.num_classes and ctx else None
        self.conv_in = nn.Conv2d(cfg.in_channels, c, 3, padding=1)

        def attention(width: int, level: int) -> nn.Module:
            if level in cfg.levels_with_attention:
                return SpatialTransformer(width, heads, ctx, groups, cfg.fused)
            return nn.Identity()

        def res(cin: int, cout: int) -> ResBlock:
            return ResBlock(cin, cout, temb, cfg.dropout, groups)

        widths, last = cfg.widths, len(cfg.widths) - 1
        skips, prev = [c], c  # the widths of the skip connections, in the order they are made
        down = []
        for i, w in enumerate(widths):
            resnets, attentions = [], []
            for _ in range(cfg.num_res_blocks):
                resnets.append(res(prev, w))
                attentions.append(attention(w, i))
                prev = w
                skips.append(w)
            down.append(_Level(resnets, attentions, Downsample(w) if i < last else nn.Identity()))
            if i < last:
                skips.append(w)
        self.down_blocks = nn.ModuleList(down)
        self.mid_block = _Level(
            [res(prev, prev), res(prev, prev)],
            [SpatialTransformer(prev, heads, ctx, groups, cfg.fused), nn.Identity()],
            nn.Identity(),
        )
        up = []
        for i in reversed(range(len(widths))):
            w = widths[i]
            resnets, attentions = [], []
            for _ in range(cfg.num_res_blocks + 1):
                resnets.append(res(prev + skips.pop(), w))
                attentions.append(attention(w, i))
                prev = w
            up.append(_Level(resnets, attentions, Upsample(w) if i > 0 else nn.Identity()))
        self.up_blocks = nn.ModuleList(up)
        self.norm_out = nn.GroupNorm(groups, prev)
        self.conv_out = nn.Conv2d(prev, cfg.out_channels or cfg.in_channels, 3, padding=1)

    # ---- the condition ----------------------------------------------------------------------------

    def null_condition(self, cond: Tensor) -> Tensor:
        """The null labels for a batch of labels: the unconditional half of guidance's batch."""
        if self.class_embedding is None or cond.is_floating_point():
            raise DiffusionInputError(
                "only a class-conditional UNet (num_classes > 0) has a null token; for context tokens "
                "pass null_cond (the encoding of an empty condition) to the sampler"
            )
        return torch.full_like(cond, self.config.num_classes)

    def drop_labels(self, labels: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
        """Labels replaced by the null token with probability p (train with p ≈ 0.1–0.2 for CFG)."""
        if self.class_embedding is None:
            raise DiffusionInputError("drop_labels needs a class-conditional UNet (num_classes > 0)")
        return drop_labels(labels, p, self.config.num_classes, generator)

    def context(self, cond: Tensor | None, batch: int) -> Tensor | None:
        """τ(y): the (B, S, context_dim) tokens the cross-attention reads, or None."""
        if cond is None:
            if self.class_embedding is not None:
                null = torch.full((batch,), self.config.num_classes, device=self.conv_in.weight.device)
                return self.class_embedding(null)[:, None, :]  # (B, 1, D): the null token
            if self.config.context_width is not None:
                raise ValueError("this UNet cross-attends: pass cond, context tokens (B, S, context_dim)")
            return None
        if cond.is_floating_point():
            if cond.dim() != 3 or cond.shape[-1] != self.config.context_width:
                raise ValueError(
                    f"context tokens must be (B, S, {self.config.context_width}), got {tuple(cond.shape)}"
                )
            return cond
        if self.class_embedding is None:
            raise ValueError("class labels need a class-conditional UNet (num_classes > 0)")
        return self.class_embedding(cond.reshape(batch))[:, None, :]  # (B, 1, D): one token per label

    # ---- ε_θ(x_t, t, c) ---------------------------------------------------------------------------

    def forward(self, x: Tensor, t: Tensor | int | float, cond: Tensor | None = None) -> Tensor:
        b, _, height, width = x.shape
        f = self.config.factor
        if height % f or width % f:
            raise ValueError(
                f"this UNet halves the resolution {len(self.config.channel_mult) - 1} times: "
                f"H and W ({height}, {width}) must be multiples of {f}"
            )
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(b) if t.dim() == 0 else t
        emb = self.time_embedding(timestep_embedding(t, self.config.channels).to(x.dtype))  # (B, 4C)
        context = self.context(cond, b)  # (B, S, D) or None

        h = self.conv_in(x)  # (B, C, H, W)
        skips = [h]
        for level in self.down_blocks:
            for resnet, attn in zip(level.resnets, level.attentions):
                h = _attend(attn, resnet(h, emb), context)
                skips.append(h)
            if not isinstance(level.resample, nn.Identity):
                h = level.resample(h)  # (B, C_i, H_i/2, W_i/2)
                skips.append(h)
        mid = self.mid_block
        h = _attend(mid.attentions[0], mid.resnets[0](h, emb), context)
        h = mid.resnets[1](h, emb)
        for level in self.up_blocks:
            for resnet, attn in zip(level.resnets, level.attentions):
                h = resnet(torch.cat([h, skips.pop()], dim=1), emb)  # the skip from the way down
                h = _attend(attn, h, context)
            h = level.resample(h)  # (B, C_i, 2H_i, 2W_i), or as it is at full resolution
        return self.conv_out(F.silu(self.norm_out(h)))


def _attend(attn: nn.Module, h: Tensor, context: Tensor | None) -> Tensor:
    return h if isinstance(attn, nn.Identity) else attn(h, context)
