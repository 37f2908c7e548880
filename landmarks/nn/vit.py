"""The Vision Transformer, shared by the papers that build on it.

Dosovitskiy et al. (2021), "An Image is Worth 16x16 Words: Transformers for Image Recognition
at Scale", Sec. 3.1. An image is cut into N = HW/P² patches of P×P pixels; each patch is
flattened and mapped linearly to D dimensions; a learned class token is prepended and learned
positions are added; a stack of pre-LN Transformer encoder blocks follows, and the class token's
final state, layer-normed, feeds the classifier:

    z_0  = [x_class; x_p^1 E; x_p^2 E; …; x_p^N E] + E_pos        (Eq. 1)
    z'_ℓ = MSA(LN(z_{ℓ−1})) + z_{ℓ−1}                              (Eq. 2)
    z_ℓ  = MLP(LN(z'_ℓ)) + z'_ℓ                                     (Eq. 3)
    y    = LN(z_L^0)                                                (Eq. 4)

Four papers configure this one model rather than copying it: ``vit`` (the paper above, with
mean attention distance per head, Fig. 7), ``vit-registers`` (Darcet et al. 2024: R extra learned
tokens that take part in attention and are discarded at the output), ``aim`` (El-Nouby et al.
2024: prefix-causal attention, where a prefix of patches attends bidirectionally and the rest
causally, and fixed 2-D sin-cos positions) and ``no-zero-shot`` (CLIP's image encoder, mean-pooled).

Token layout, as timm lays it out: [class token?, registers…, patches…]. Learned positions
either cover every token (``prefix_positions=True``, the original ViT and timm's default) or the
patches only, added before the class token and registers are put in front
(``prefix_positions=False``: timm's ``no_embed_class=True``, as DeiT-III and DINOv2 with
registers do). Parameter names are timm's (``patch_embed.proj``, ``cls_token``, ``reg_token``,
``pos_embed``, ``blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``,
``head``), so ``timm.create_model("vit_base_patch16_224").state_dict()`` loads with
``landmarks.nn.interop.load_exact`` and gives the same logits (tested). Attention runs on the
shared core, ``landmarks.nn.attention.scaled_dot_product_attention``: the fused kernel, or with
``fused=False`` (and whenever weights are asked for) the explicit softmax(QKᵀ/√d)V.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from landmarks.nn.attention import causal_mask, scaled_dot_product_attention
from landmarks.nn.transformer import sinusoidal_positions

__all__ = [
    "Attention",
    "Block",
    "Mlp",
    "PatchEmbed",
    "Tokens",
    "ViTConfig",
    "ViTTrace",
    "VisionTransformer",
    "attention_macs",
    "mean_attention_distance",
    "patch_distances",
    "sincos_positions_2d",
    "vit_base_patch16_224",
    "vit_large_patch16_224",
    "vit_small_patch16_224",
    "vit_tiny_patch16_224",
]


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 224  # square images, image_size × image_size pixels
    patch_size: int = 16  # P: the image is cut into (image_size / P)² patches
    in_chans: int = 3
    num_classes: int = 1000  # 0: no head, ``forward`` returns the pooled features
    d_model: int = 768  # D
    depth: int = 12  # L, the number of encoder blocks
    n_head: int = 12
    mlp_ratio: float = 4.0  # the MLP's hidden width is int(mlp_ratio · D)
    class_token: bool = True
    registers: int = 0  # Darcet et al.: extra learned tokens, discarded at the output
    positions: Literal["learned", "sincos"] = "learned"  # sincos: fixed 2-D sin-cos, patches only (AIM)
    # learned positions for the class token and registers too; False: for the patches only
    # (timm's no_embed_class=True, as DeiT-III and DINOv2 with registers)
    prefix_positions: bool = True
    attention: Literal["bidirectional", "prefix_causal"] = "bidirectional"
    pooling: Literal["token", "avg"] = "token"  # the class token's state, or the mean of the patches'
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    dropout: float = 0.0  # after the positions, the attention's projection and both MLP layers
    fused: bool = True  # F.scaled_dot_product_attention; False: the explicit softmax(QKᵀ/√d)V

    def validate(self) -> None:
        for name in ("image_size", "patch_size", "in_chans", "d_model", "depth", "n_head"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size={self.image_size} is not divisible by patch_size={self.patch_size}: "
                f"the image must cut into whole patches (patch sizes that divide {self.image_size}: "
                f"{', '.join(str(d) for d in range(1, self.image_size + 1) if self.image_size % d == 0)})"
            )
        if self.d_model % self.n_head:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_head={self.n_head} "
                f"(each head gets d_model / n_head dimensions)"
            )
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0: no head), got {self.num_classes}")
        if self.registers < 0:
            raise ValueError(f"registers must be >= 0 (the number of register tokens), got {self.registers}")
        if int(self.mlp_ratio * self.d_model) < 1:
            raise ValueError(
                f"mlp_ratio={self.mlp_ratio} leaves the MLP no hidden units at d_model={self.d_model}"
            )
        if self.positions not in ("learned", "sincos"):
            raise ValueError(f"positions must be 'learned' or 'sincos', got {self.positions!r}")
        if self.positions == "sincos" and self.d_model % 4:
            raise ValueError(
                f"sincos positions need d_model divisible by 4 (sin and cos of rows and columns), got {self.d_model}"
            )
        if self.attention not in ("bidirectional", "prefix_causal"):
            raise ValueError(f"attention must be 'bidirectional' or 'prefix_causal', got {self.attention!r}")
        if self.pooling not in ("token", "avg"):
            raise ValueError(f"pooling must be 'token' or 'avg', got {self.pooling!r}")
        if self.pooling == "token" and not self.class_token:
            raise ValueError("pooling='token' reads the class token: set class_token=True or pooling='avg'")
        if self.norm_eps <= 0:
            raise ValueError(f"norm_eps must be > 0, got {self.norm_eps}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, columns) of patches."""
        side = self.image_size // self.patch_size
        return side, side

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def num_prefix_tokens(self) -> int:
        """The tokens in front of the patches: the class token (if any), then the registers."""
        return int(self.class_token) + self.registers

    @property
    def num_tokens(self) -> int:
        return self.num_prefix_tokens + self.num_patches


# ---- Eq. 1: patches, class token, registers, positions -------------------------------------------


class PatchEmbed(nn.Module):
    """x_p^i E for every patch: a P×P convolution of stride P is the same linear map E applied
    to each flattened, non-overlapping patch (Sec. 3.1)."""

    def __init__(self, image_size: int, patch_size: int, in_chans: int, d_model: int) -> None:
        super().__init__()
        self.image_size, self.patch_size = image_size, patch_size
        self.grid = (image_size // patch_size, image_size // patch_size)
        self.proj = nn.Conv2d(in_chans, d_model, kernel_size=patch_size, stride=patch_size)  # E

    def forward(self, images: Tensor) -> Tensor:
        if tuple(images.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(
                f"expected {self.image_size}×{self.image_size} images, got {tuple(images.shape[-2:])}: "
                f"the learned positions are for a {self.grid[0]}×{self.grid[1]} grid of patches"
            )
        x = self.proj(images)  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D), patches in row-major order


def sincos_positions_2d(grid: tuple[int, int], d_model: int) -> Tensor:
    """(rows · cols, d_model) fixed positions: the first half of the dimensions encodes the patch's
    row, the second half its column, each with the Transformer's sinusoids (Vaswani et al., Sec.
    3.5); the 2-D form of MAE and AIM."""
    rows, cols = grid
    r = sinusoidal_positions(rows, d_model // 2)  # (rows, D/2)
    c = sinusoidal_positions(cols, d_model // 2)  # (cols, D/2)
    table = torch.cat([r[:, None].expand(rows, cols, -1), c[None].expand(rows, cols, -1)], dim=-1)
    return table.reshape(rows * cols, d_model)  # (N, D), row-major as the patches


# ---- Eqs. 2 and 3: the encoder block --------------------------------------------------------------


class Attention(nn.Module):
    """MSA: multi-head self-attention with one fused W^Q; W^K; W^V projection (``qkv``, rows in
    that order, as torch's ``in_proj_weight`` and timm's ``qkv``) and W^O (``proj``)."""

    def __init__(
        self, d_model: int, n_head: int, qkv_bias: bool = True, dropout: float = 0.0, fused: bool = True
    ):
        super().__init__()
        self.n_head, self.head_dim, self.fused = n_head, d_model // n_head, fused
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=qkv_bias)
        self.proj = nn.Linear(d_model, d_model)
        self.proj_drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D) → (B, T, D), and the weights (B, h, T, T) if asked. ``mask`` broadcasts to
        (B, h, T, T), True where a query may attend a key."""
        b, t, d = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.n_head, self.head_dim)  # (B, T, 3, h, d_k)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, h, T, d_k)
        out, weights = scaled_dot_product_attention(
            q, k, v, mask, fused=self.fused, need_weights=need_weights
        )
        out = out.transpose(1, 2).reshape(b, t, d)  # (B, T, D): the heads concatenated
        return self.proj_drop(self.proj(out)), weights


class Mlp(nn.Module):
    """MLP(x) = W_2 GELU(W_1 x + b_1) + b_2: two layers with a GELU between (Sec. 3.1)."""

    def __init__(self, d_model: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """One pre-LN encoder block: Eq. 2 then Eq. 3."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.attn = Attention(cfg.d_model, cfg.n_head, cfg.qkv_bias, cfg.dropout, cfg.fused)
        self.norm2 = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mlp = Mlp(cfg.d_model, int(cfg.mlp_ratio * cfg.d_model), cfg.dropout)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        attended, weights = self.attn(self.norm1(x), mask, need_weights)
        x = x + attended  # Eq. 2: z'_ℓ = MSA(LN(z_{ℓ−1})) + z_{ℓ−1}
        x = x + self.mlp(self.norm2(x))  # Eq. 3: z_ℓ = MLP(LN(z'_ℓ)) + z'_ℓ
        return x, weights


# ---- the model -------------------------------------------------------------------------------------


class Tokens(NamedTuple):
    """A (B, T, D) token sequence split by kind."""

    cls: Tensor | None  # (B, D), or None without a class token
    registers: Tensor  # (B, R, D); R may be 0
    patches: Tensor  # (B, N, D), row-major over the grid


@dataclass
class ViTTrace:
    """What one pass computed, for probes, token norms and attention maps."""

    features: Tensor  # (B, T, D): the tokens after the final norm (``forward_features``)
    # each block's output tokens (B, T, D), before the final norm
    blocks: list[Tensor] = field(default_factory=list)
    # each block's attention weights per head (B, h, T, T), when asked for
    attention: list[Tensor] = field(default_factory=list)


class VisionTransformer(nn.Module):
    """ViT (Sec. 3.1), with registers, prefix-causal attention and mean pooling as options."""

    # left out of weight decay with the biases and norms (timm's and DeiT's ``no_weight_decay``)
    no_weight_decay_names = ("pos_embed", "cls_token", "reg_token")

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        d = cfg.d_model
        self.num_patches, self.num_prefix_tokens = cfg.num_patches, cfg.num_prefix_tokens
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d)) if cfg.class_token else None  # x_class
        self.reg_token = nn.Parameter(torch.zeros(1, cfg.registers, d)) if cfg.registers else None
        if cfg.positions == "learned":  # E_pos
            rows = cfg.num_tokens if cfg.prefix_positions else cfg.num_patches
            self.pos_embed = nn.Parameter(torch.zeros(1, rows, d))
        else:
            self.register_buffer("pos_embed", sincos_positions_2d(cfg.grid, d)[None], persistent=False)
        self.patch_embed = PatchEmbed(cfg.image_size, cfg.patch_size, cfg.in_chans, d)
        self.pos_drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d, eps=cfg.norm_eps)
        self.head = nn.Linear(d, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        """Truncated normal (std 0.02) for the learned tokens, positions and linear layers, zero
        biases (timm's and DeiT's recipe). The registers need random starts: equal ones would get
        equal gradients and never tell themselves apart."""
        for p in (self.cls_token, self.reg_token, self.pos_embed):
            if isinstance(p, nn.Parameter):
                nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # -- which token is which

    @property
    def grid(self) -> tuple[int, int]:
        return self.cfg.grid

    @property
    def register_slice(self) -> slice:
        """Where the registers sit in the token sequence (empty without registers)."""
        start = int(self.cfg.class_token)
        return slice(start, start + self.cfg.registers)

    @property
    def patch_slice(self) -> slice:
        return slice(self.num_prefix_tokens, self.num_prefix_tokens + self.num_patches)

    def split_tokens(self, tokens: Tensor) -> Tokens:
        """(B, T, D) → the class token, the registers and the patches."""
        return Tokens(
            tokens[:, 0] if self.cfg.class_token else None,
            tokens[:, self.register_slice],
            tokens[:, self.patch_slice],
        )

    # -- the forward pass

    def embed(self, images: Tensor) -> Tensor:
        """Eq. 1: images (B, C, H, W) → z_0 (B, T, D), laid out [class?, registers, patches]."""
        x = self.patch_embed(images)  # (B, N, D)
        prefix = [t.expand(x.shape[0], -1, -1) for t in (self.cls_token, self.reg_token) if t is not None]
        if self.cfg.positions == "learned" and self.cfg.prefix_positions:
            x = torch.cat([*prefix, x], dim=1) + self.pos_embed  # (B, T, D): a position for every token
        else:
            x = torch.cat([*prefix, x + self.pos_embed], dim=1)  # (B, T, D): positions for the patches only
        return self.pos_drop(x)

    def attention_mask(self, prefix_len: int | Tensor | None = None) -> Tensor | None:
        """None for bidirectional attention; for prefix-causal attention (AIM), a bool mask
        (B or 1, 1, T, T), True where query i may attend key j: j ≤ i, or j in the prefix.

        The prefix is the class token and registers (if any) and the first ``prefix_len`` patches
        (an int, or a (B,) tensor of one length per image; None or 0: causal over all patches;
        ``num_patches``: fully bidirectional). Every prefix token attends every other, patch
        i ≥ prefix attends the prefix and the patches up to itself, so no token sees a later patch
        outside the prefix.
        """
        if self.cfg.attention == "bidirectional":
            if prefix_len is not None:
                raise ValueError(
                    "prefix_len is for attention='prefix_causal'; this ViT attends bidirectionally"
                )
            return None
        device = self.patch_embed.proj.weight.device
        prefix = torch.as_tensor(0 if prefix_len is None else prefix_len, device=device)
        if prefix.dim() > 1 or bool(((prefix < 0) | (prefix > self.num_patches)).any()):
            raise ValueError(
                f"prefix_len must be an int or a (B,) tensor in [0, {self.num_patches}] (the patches), "
                f"got {prefix_len}"
            )
        t = self.cfg.num_tokens
        keys = torch.arange(t, device=device)
        in_prefix = keys < self.num_prefix_tokens + prefix.reshape(-1, 1, 1, 1)  # (B or 1, 1, 1, T)
        return causal_mask(t, t, device) | in_prefix  # (B or 1, 1, T, T)

    def forward_trace(
        self, images: Tensor, prefix_len: int | Tensor | None = None, need_weights: bool = False
    ) -> ViTTrace:
        """Every block's output tokens, and with ``need_weights`` every block's attention
        weights per head (the explicit path computes them), beside the final features."""
        return self._encode(images, prefix_len, keep=True, need_weights=need_weights)

    def forward_features(self, images: Tensor, prefix_len: int | Tensor | None = None) -> Tensor:
        """All T tokens after the final norm, (B, T, D); ``split_tokens`` tells them apart."""
        return self._encode(images, prefix_len).features

    def _encode(
        self, images: Tensor, prefix_len: int | Tensor | None, keep: bool = False, need_weights: bool = False
    ) -> ViTTrace:
        mask = self.attention_mask(prefix_len)
        x = self.embed(images)
        outputs, attention = [], []
        for block in self.blocks:
            x, weights = block(x, mask, need_weights)
            if keep:
                outputs.append(x)
            if weights is not None:
                attention.append(weights)
        return ViTTrace(self.norm(x), outputs, attention)

    def pool(self, features: Tensor) -> Tensor:
        """(B, T, D) → (B, D): Eq. 4's class token, or the mean of the patch tokens (registers and
        the class token left out)."""
        if self.cfg.pooling == "token":
            return features[:, 0]  # y = LN(z_L^0)
        return features[:, self.patch_slice].mean(dim=1)

    def forward(self, images: Tensor, prefix_len: int | Tensor | None = None) -> Tensor:
        """Logits (B, num_classes), or the pooled features (B, D) when ``num_classes`` is 0."""
        return self.head(self.pool(self.forward_features(images, prefix_len)))


# ---- cost ----------------------------------------------------------------------------------------


def attention_macs(cfg: ViTConfig) -> int:
    """Multiply-adds of the attention's two matrix products per image, QKᵀ and A·V: T²·D each
    per block. ``landmarks.nn.counting.count_macs`` counts layers only (the convolution and the
    linear maps), so a ViT's full cost is ``count_macs(model) + attention_macs(model.cfg)``."""
    return cfg.depth * 2 * cfg.num_tokens**2 * cfg.d_model


# ---- Fig. 7: mean attention distance ---------------------------------------------------------------


def patch_distances(grid: int | Sequence[int], patch_size: int) -> Tensor:
    """(N, N) distances in pixels between the centres of every two patches of a row-major grid."""
    rows, cols = (grid, grid) if isinstance(grid, int) else tuple(grid)
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    centres = torch.stack([r.flatten(), c.flatten()], dim=-1).double() * patch_size  # (N, 2)
    return torch.cdist(centres, centres)  # (N, N)


def mean_attention_distance(attn: Tensor, grid: int | Sequence[int], patch_size: int) -> Tensor:
    """Dosovitskiy et al. Fig. 7: per head, the attention-weighted mean distance in pixels between
    a query patch and the patches it attends, averaged over query patches and images.

    ``attn`` (B, h, N, N): one block's weights among the patches only (``weights[..., s, s]`` with
    ``s = model.patch_slice``). Each query's weights are renormalized over the patches, so the
    mass a query puts on the class token or registers does not count as distance zero.
    Returns (h,).
    """
    rows, cols = (grid, grid) if isinstance(grid, int) else tuple(grid)
    n = rows * cols
    if attn.dim() != 4 or attn.shape[-2:] != (n, n):
        raise ValueError(
            f"attn must be (B, h, N, N) with N = {rows}·{cols} = {n} patches, got {tuple(attn.shape)}; "
            f"slice away the class token and registers first"
        )
    dist = patch_distances((rows, cols), patch_size).to(attn)  # (N, N)
    weights = attn / attn.sum(dim=-1, keepdim=True)  # each query's distribution over the patches
    per_query = (weights * dist).sum(dim=-1)  # (B, h, N): Σ_j a_ij · ‖p_i − p_j‖
    return per_query.mean(dim=(0, 2))  # (h,)


# ---- the sizes of Table 1 (timm's names) --------------------------------------------------------
#
# The paper modules (``vit`` and the others) will re-export these; they live here until then.


def _sized(d_model: int, depth: int, n_head: int, overrides: dict[str, Any]) -> VisionTransformer:
    base: dict[str, Any] = {
        "patch_size": 16,
        "image_size": 224,
        "d_model": d_model,
        "depth": depth,
        "n_head": n_head,
    }
    return VisionTransformer(ViTConfig(**{**base, **overrides}))


def vit_tiny_patch16_224(**overrides: Any) -> VisionTransformer:
    """ViT-Ti/16 (DeiT's size): D = 192, 12 blocks, 3 heads; 5.7 M parameters."""
    return _sized(192, 12, 3, overrides)


def vit_small_patch16_224(**overrides: Any) -> VisionTransformer:
    """ViT-S/16 (DeiT's size): D = 384, 12 blocks, 6 heads; 22.1 M parameters."""
    return _sized(384, 12, 6, overrides)


def vit_base_patch16_224(**overrides: Any) -> VisionTransformer:
    """ViT-B/16 (Table 1): D = 768, 12 blocks, 12 heads; 86.6 M parameters, 17.6 G multiply-adds."""
    return _sized(768, 12, 12, overrides)


def vit_large_patch16_224(**overrides: Any) -> VisionTransformer:
    """ViT-L/16 (Table 1): D = 1024, 24 blocks, 16 heads; 304 M parameters."""
    return _sized(1024, 24, 16, overrides)
