"""Hawk and Griffin (De et al., 2024, "Griffin: Mixing Gated Linear Recurrences with Local
Attention for Efficient Language Models"), and the MQA transformer they are compared with.

All three share one residual block (Sec. 2): RMSNorm → a temporal-mixing block →
residual; RMSNorm → a gated MLP → residual. Only the temporal-mixing block differs:

- **the recurrent block**: two branches of the input, each widened to D_RNN. One is
  GeLU(W_y x); the other passes a causal depthwise Conv1D (width 4) and the RG-LRU; their
  product is projected back to D.
- **multi-query attention** (Shazeer, 2019): h query heads share one key head and one value
  head, with rotary positions (Su et al., 2021). Global in the transformer; in Griffin, *local*
  (each token sees the last ``window`` tokens only).

**The Real-Gated Linear Recurrent Unit** (Sec. 2), per channel:

    r_t = σ(W_a x_t + b_a)            recurrence gate
    i_t = σ(W_x x_t + b_x)            input gate
    a_t = a^(c r_t),  a = σ(Λ), c = 8  (computed as log a_t = −c r_t softplus(−Λ))
    h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ (i_t ⊙ x_t)

a linear recurrence in h, so training runs it through ``landmarks.nn.scan.linear_scan`` (a
parallel scan, or the in-place sweep where that is faster), and decoding carries a state of
fixed size (h and the convolution's last 3 inputs) whatever the length. Λ starts with a ∈ [0.9, 0.999] (a² uniform,
as the reference code draws it); the gates are block-diagonal (one block per head); the
√(1 − a²) scaling is skipped at the first token, where there is no state to keep.

**Hawk** stacks recurrent blocks only. **Griffin** repeats (recurrent, recurrent, local MQA).
Parameter names are Hugging Face's ``RecurrentGemma`` ones (``linear_x``, ``linear_y``,
``linear_out``, ``conv_1d``, ``rg_lru.recurrent_param``, ...), so its recurrent block's state
dict loads and gives the same outputs (tested).

**Decoding a token at a time** (``step``) is the same math as ``forward`` (tested equal), on a
lean path: at a batch of 16 on a CPU, each operator call costs more than its arithmetic, so a
step joins the projections that read the same input into one matrix product (W_x and W_y; the
query, key and value; the MLP's gate and up), rotates the query and the key together, and reads
what depends on the weights alone (the joined matrices, the RG-LRU's −c · softplus(Λ), the
rotary frequencies) from ``decoding_weights``, which derives them once per change of the
parameters rather than once per token. The transformer's step gets the same treatment as the
recurrent one's, so that decoding speeds compare the state each carries, not how each is coded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.nn.attention import scaled_dot_product_attention
from landmarks.nn.scan import linear_scan, sequential_scan
from landmarks.nn.ssm import RMSNorm

__all__ = [
    "RGLRU",
    "GriffinConfig",
    "GriffinLM",
    "LocalMQA",
    "RecurrentBlock",
    "decoding_weights",
    "rotary",
    "state_bytes",
]

Kind = Literal["recurrent", "attention"]


def decoding_weights(
    module: nn.Module, build: Callable[[], tuple[Tensor, ...]], *sources: nn.Module
) -> tuple[Tensor, ...]:
    """``build()``: tensors derived from the parameters of ``sources`` alone (a joined
    projection, a decay rate), which a decoding step would otherwise recompute for every token.
    Without autograd they are kept on ``module`` and built again only when one of those
    parameters changes: its version counter moves on every in-place update (an optimizer step,
    ``load_state_dict``), its storage on a move to another device, and the object itself when it
    is replaced. With autograd on they are built afresh each call, so that gradients flow."""
    if torch.is_grad_enabled():
        return build()
    params = [p for source in sources for p in source._parameters.values() if p is not None]
    key = [(id(p), p.data_ptr(), p._version) for p in params]
    kept = module.__dict__.get("_decoding_weights")
    if kept is None or kept[0] != key:
        kept = (key, build(), params)  # holding the parameters keeps their ids from being reused
        module.__dict__["_decoding_weights"] = kept
    return kept[1]


# ---- the RG-LRU (Sec. 2.4) ----------------------------------------------------------------------


class RGLRU(nn.Module):
    """h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ (i_t ⊙ x_t), a_t = σ(Λ)^(c r_t): (B, T, D) → (B, T, D)."""

    c = 8.0

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"the RG-LRU width ({width}) must be divisible by its heads ({heads})")
        self.heads, self.block = heads, width // heads
        self.recurrent_param = nn.Parameter(torch.empty(width))  # Λ, stored as softplus⁻¹(−log a)
        self.input_gate_weight = nn.Parameter(torch.empty(heads, self.block, self.block))
        self.input_gate_bias = nn.Parameter(torch.zeros(heads, self.block))
        self.recurrent_gate_weight = nn.Parameter(torch.empty(heads, self.block, self.block))
        self.recurrent_gate_bias = nn.Parameter(torch.zeros(heads, self.block))
        for w in (self.input_gate_weight, self.recurrent_gate_weight):
            nn.init.normal_(w, std=self.block**-0.5)
        with torch.no_grad():  # a ∈ [0.9, 0.999], a² uniform (uniform on a ring's area)
            a = torch.empty(width).uniform_(0.9**2, 0.999**2).sqrt()
            self.recurrent_param.copy_(torch.log(torch.expm1(-torch.log(a))))  # softplus(Λ') = −log a

    def _gates(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """r_t and i_t: σ(W x + b) with W block-diagonal, each head's block of channels mixing
        only within itself; both gates in one batched product."""
        weight = torch.cat([self.recurrent_gate_weight, self.input_gate_weight], -1)  # (H, D/H, 2D/H)
        bias = torch.cat([self.recurrent_gate_bias, self.input_gate_bias], -1)  # (H, 2D/H)
        blocks = x.unflatten(-1, (self.heads, self.block))  # (..., H, D/H)
        r, i = torch.sigmoid(torch.einsum("...hi,hij->...hj", blocks, weight) + bias).chunk(2, dim=-1)
        return r.flatten(-2), i.flatten(-2)

    def coefficients(self, x: Tensor, first: Tensor | bool) -> tuple[Tensor, Tensor]:
        """a_t and the scaled input √(1 − a_t²) i_t x_t; ``first`` marks tokens with no history
        (a mask that broadcasts against x, or one bool for a single step)."""
        r, i = self._gates(x)
        return self._recurrence(r, i, x, first, -self.c * F.softplus(self.recurrent_param))

    @staticmethod
    def _recurrence(
        r: Tensor, i: Tensor, x: Tensor, first: Tensor | bool, rate: Tensor
    ) -> tuple[Tensor, Tensor]:
        """a_t and √(1 − a_t²) i_t x_t from the gates; ``rate`` is −c · softplus(Λ) = c log σ(Λ)."""
        log_a = rate * r  # log a_t = c r_t log σ(Λ)   (Eq. 3)
        a = torch.exp(log_a)
        if first is True:  # one step with no state: nothing to scale against
            return a, i * x
        scale = torch.sqrt(-torch.expm1(2 * log_a))  # √(1 − a_t²), exact as a_t → 1
        if isinstance(first, Tensor):
            scale = torch.where(first, 1.0, scale)
        return a, scale * (i * x)

    def forward(self, x: Tensor, sequential: bool = False) -> Tensor:
        xt = x.transpose(0, 1)  # (T, B, D): time first, so the scan runs over contiguous steps
        first = torch.arange(x.shape[1], device=x.device)[:, None, None] == 0  # (T, 1, 1)
        a, b = self.coefficients(xt, first)
        return (sequential_scan if sequential else linear_scan)(a, b, dim=0).transpose(0, 1)  # Eq. 4

    def _decoding(self) -> tuple[Tensor, Tensor, Tensor]:
        """For a step: both gates' blocks laid out as one dense block-diagonal matrix (D, 2D), r's
        columns then i's (at a batch of a few tokens the zeros cost less than a batched product's
        overhead), their biases (2D,), and the rate −c · softplus(Λ) (D,)."""
        weight = torch.cat(
            [torch.block_diag(*self.recurrent_gate_weight), torch.block_diag(*self.input_gate_weight)], dim=1
        )
        bias = torch.cat([self.recurrent_gate_bias.flatten(), self.input_gate_bias.flatten()])
        return weight, bias, -self.c * F.softplus(self.recurrent_param)

    def step(self, x: Tensor, h: Tensor, first: bool) -> Tensor:
        """One token (B, D) and the state h_{t−1} (B, D) → h_t."""
        weight, bias, rate = decoding_weights(self, self._decoding, self)
        r, i = torch.sigmoid(torch.addmm(bias, x, weight)).chunk(2, dim=-1)
        a, b = self._recurrence(r, i, x, first, rate)
        return torch.addcmul(b, a, h)  # Eq. 4


class RecurrentBlock(nn.Module):
    """GeLU(W_y x) ⊙ RG-LRU(Conv1D(W_x x)), projected back to D (Sec. 2)."""

    def __init__(self, d_model: int, width: int, heads: int, conv_width: int = 4) -> None:
        super().__init__()
        self.width, self.conv_width = width, conv_width
        self.linear_y = nn.Linear(d_model, width)  # the gate branch
        self.linear_x = nn.Linear(d_model, width)  # the recurrent branch
        self.conv_1d = nn.Conv1d(width, width, conv_width, groups=width, padding=conv_width - 1)
        self.rg_lru = RGLRU(width, heads)
        self.linear_out = nn.Linear(width, d_model)

    def forward(self, u: Tensor, sequential: bool = False) -> Tensor:
        t = u.shape[1]
        y = F.gelu(self.linear_y(u), approximate="tanh")
        x = self.conv_1d(self.linear_x(u).transpose(1, 2))[..., :t].transpose(1, 2)  # causal: drop the tail
        return self.linear_out(self.rg_lru(x, sequential=sequential) * y)

    def init_state(self, batch: int) -> dict[str, Tensor | int]:
        """The convolution's last conv_width − 1 inputs and h: a fixed size, whatever the length."""
        w = self.linear_x.weight
        return {
            "conv": w.new_zeros(batch, self.width, self.conv_width - 1),
            "h": w.new_zeros(batch, self.width),
            "t": 0,
        }

    def _joined(self) -> tuple[Tensor, Tensor, Tensor]:
        """W_x and W_y stacked (2 D_RNN, D), their biases, and the convolution's taps (D_RNN, width)."""
        weight = torch.cat([self.linear_x.weight, self.linear_y.weight])
        return weight, torch.cat([self.linear_x.bias, self.linear_y.bias]), self.conv_1d.weight[:, 0]

    def step(self, u: Tensor, state: dict) -> Tensor:
        """One token (B, D) → (B, D), updating ``state`` in place of the old one."""
        weight, bias, taps = decoding_weights(self, self._joined, self.linear_x, self.linear_y, self.conv_1d)
        x, y = F.linear(u, weight, bias).split(self.width, dim=-1)  # W_x u and W_y u in one product
        y = F.gelu(y, approximate="tanh")
        window = torch.cat([state["conv"], x[..., None]], dim=-1)  # (B, D_RNN, width)
        x = (window * taps).sum(-1) + self.conv_1d.bias
        state["h"] = self.rg_lru.step(x, state["h"], first=state["t"] == 0)
        state["conv"], state["t"] = window[..., 1:], state["t"] + 1
        return self.linear_out(state["h"] * y)


# ---- multi-query attention, global or local ---------------------------------------------------------


def rotary_frequencies(dim: int, device: torch.device, dtype: torch.dtype, base: float = 10000.0) -> Tensor:
    """base^(−2i/d) for the d/2 pairs of a head of ``dim`` channels."""
    half = dim // 2
    return base ** (-torch.arange(half, device=device, dtype=dtype) / half)


def _rotate(x: Tensor, angles: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def rotary(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotate each pair (x_i, x_{i+d/2}) of x (..., T, d) by the angle pos · base^(−2i/d) (RoPE):
    q · k then depends on positions only through their difference."""
    dtype = torch.promote_types(x.dtype, torch.float32)
    freqs = rotary_frequencies(x.shape[-1], x.device, dtype, base)
    return _rotate(x, positions.to(dtype)[:, None] * freqs)  # angles (T, d/2)


class LocalMQA(nn.Module):
    """h query heads, one key and one value head; ``window`` > 0 keeps the last ``window`` keys."""

    def __init__(self, d_model: int, heads: int, window: int = 0, fused: bool = True) -> None:
        super().__init__()
        if d_model % heads or (d_model // heads) % 2:
            raise ValueError(f"d_model ({d_model}) / heads ({heads}) must be an even integer (rotary pairs)")
        self.heads, self.head_dim, self.window, self.fused = heads, d_model // heads, window, fused
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, self.head_dim, bias=False)
        self.v_proj = nn.Linear(d_model, self.head_dim, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)

    def _qkv(self, u: Tensor, positions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, t, _ = u.shape
        q = self.q_proj(u).view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, h, T, d)
        k = self.k_proj(u)[:, None]  # (B, 1, T, d): one key head for every query head
        v = self.v_proj(u)[:, None]
        return rotary(q, positions), rotary(k, positions), v

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
        b, h, t, d = q.shape
        k, v = k.expand(b, h, -1, d), v.expand(b, h, -1, d)  # shared, not copied
        out, _ = scaled_dot_product_attention(q, k, v, mask, causal=causal, fused=self.fused)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, h * d))

    def forward(self, u: Tensor) -> Tensor:
        t = u.shape[1]
        pos = torch.arange(t, device=u.device)
        q, k, v = self._qkv(u, pos)
        if self.window <= 0 or self.window >= t:
            return self._attend(q, k, v, None, causal=True)
        lag = pos[:, None] - pos[None, :]
        return self._attend(q, k, v, (lag >= 0) & (lag < self.window), causal=False)  # (T, T)

    def init_state(self, batch: int) -> dict[str, Tensor | int]:
        """Local: a ring buffer of ``window`` keys and values (a fixed size). Global: a cache
        that doubles when full (its size grows with the length, as a KV cache does)."""
        w = self.k_proj.weight
        slots = self.window if self.window > 0 else 16
        return {
            "k": w.new_zeros(batch, 1, slots, self.head_dim),
            "v": w.new_zeros(batch, 1, slots, self.head_dim),
            "t": 0,
        }

    def _joined(self) -> tuple[Tensor, Tensor]:
        """W_q, W_k and W_v stacked ((h + 2) d, D), and the rotary frequencies (d/2,)."""
        weight = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
        dtype = torch.promote_types(weight.dtype, torch.float32)
        return weight, rotary_frequencies(self.head_dim, weight.device, dtype)

    def step(self, u: Tensor, state: dict) -> Tensor:
        t = state["t"]
        weight, freqs = decoding_weights(self, self._joined, self.q_proj, self.k_proj, self.v_proj)
        b, h, d = u.shape[0], self.heads, self.head_dim
        qk, v = F.linear(u, weight).split([(h + 1) * d, d], dim=-1)  # the h queries and the key: one product
        qk = _rotate(qk.view(b, h + 1, d), t * freqs)  # all at position t, rotated together
        q, k, v = qk[:, :h, None], qk[:, h:, None], v[:, None, None]  # (B, h, 1, d), (B, 1, 1, d) ×2
        slots = state["k"].shape[2]
        if self.window > 0:
            slot = t % slots  # overwrite the oldest key: what leaves the window
        else:
            if t == slots:  # full: double the cache
                state["k"] = torch.cat([state["k"], torch.zeros_like(state["k"])], dim=2)
                state["v"] = torch.cat([state["v"], torch.zeros_like(state["v"])], dim=2)
            slot = t
        state["k"][:, :, slot], state["v"][:, :, slot] = k[:, :, 0], v[:, :, 0]
        state["t"] = t + 1
        filled = min(t + 1, slots) if self.window > 0 else t + 1
        # every head reads the same keys, so the h queries attend as h queries of one head, and
        # the cache is read once, not h times; a ring buffer's order does not matter: the
        # positions are already in the rotated keys
        out, _ = scaled_dot_product_attention(
            q.transpose(1, 2), state["k"][:, :, :filled], state["v"][:, :, :filled], fused=self.fused
        )  # (B, 1, h, d)
        return self.o_proj(out.reshape(b, h * d))


# ---- the residual block and the models (Sec. 2.1-2.2) ---------------------------------------------


class GatedMLP(nn.Module):
    """W_down (GeLU(W_gate x) ⊙ W_up x), expansion M (Sec. 2.2)."""

    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d_model, hidden)
        self.up_proj = nn.Linear(d_model, hidden)
        self.down_proj = nn.Linear(hidden, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.gelu(self.gate_proj(x), approximate="tanh") * self.up_proj(x))

    def _joined(self) -> tuple[Tensor, Tensor]:
        gate, up = self.gate_proj, self.up_proj
        return torch.cat([gate.weight, up.weight]), torch.cat([gate.bias, up.bias])

    def step(self, x: Tensor) -> Tensor:
        """``forward`` for one token (B, D), the gate and up projections in one product."""
        gate, up = F.linear(x, *decoding_weights(self, self._joined, self.gate_proj, self.up_proj)).chunk(
            2, dim=-1
        )
        return self.down_proj(F.gelu(gate, approximate="tanh") * up)


@dataclass(frozen=True)
class GriffinConfig:
    vocab_size: int
    pattern: tuple[Kind, ...] = ("recurrent", "recurrent", "attention")  # repeated to n_layer
    n_layer: int = 6
    d_model: int = 128
    heads: int = 4  # attention's query heads, and the RG-LRU gates' blocks
    rnn_width: int = 0  # D_RNN; 0: 4/3 · D rounded to a multiple of ``heads`` (the paper's)
    mlp_expansion: int = 3
    mlp_width: int = 0  # the gated MLP's hidden width; 0: mlp_expansion · D (the paper's M = 3)
    window: int = 0  # local attention's window; 0: global (the transformer)
    conv_width: int = 4
    fused: bool = True

    def validate(self) -> None:
        for name in ("vocab_size", "n_layer", "d_model", "heads", "mlp_expansion", "conv_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.window < 0 or self.rnn_width < 0 or self.mlp_width < 0:
            raise ValueError(
                "window, rnn_width and mlp_width must be >= 0 (0: global attention; 4/3 · D; M · D)"
            )
        if not self.pattern or any(k not in ("recurrent", "attention") for k in self.pattern):
            raise ValueError(f"pattern holds 'recurrent' and 'attention' blocks, got {self.pattern}")
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ValueError(
                f"d_model ({self.d_model}) / heads ({self.heads}) must be an even integer (rotary pairs)"
            )
        if self.width % self.heads:
            raise ValueError(f"rnn_width ({self.width}) must be divisible by heads ({self.heads})")

    @property
    def width(self) -> int:
        if self.rnn_width:
            return self.rnn_width
        return max(self.heads, round(4 * self.d_model / 3 / self.heads) * self.heads)

    @property
    def kinds(self) -> list[Kind]:
        return [self.pattern[i % len(self.pattern)] for i in range(self.n_layer)]


class ResidualBlock(nn.Module):
    def __init__(self, cfg: GriffinConfig, kind: Kind) -> None:
        super().__init__()
        self.kind = kind
        self.temporal_pre_norm = RMSNorm(cfg.d_model)
        self.temporal_block: RecurrentBlock | LocalMQA = (
            RecurrentBlock(cfg.d_model, cfg.width, cfg.heads, cfg.conv_width)
            if kind == "recurrent"
            else LocalMQA(cfg.d_model, cfg.heads, cfg.window, cfg.fused)
        )
        self.channel_pre_norm = RMSNorm(cfg.d_model)
        self.mlp = GatedMLP(cfg.d_model, cfg.mlp_width or cfg.mlp_expansion * cfg.d_model)

    def forward(self, x: Tensor, sequential: bool = False) -> Tensor:
        h = self.temporal_pre_norm(x)
        x = x + (self.temporal_block(h, sequential) if self.kind == "recurrent" else self.temporal_block(h))
        return x + self.mlp(self.channel_pre_norm(x))

    def step(self, x: Tensor, state: dict) -> Tensor:
        x = x + self.temporal_block.step(self.temporal_pre_norm(x), state)
        return x + self.mlp.step(self.channel_pre_norm(x))


class GriffinLM(nn.Module):
    """Token embedding (scaled by √D), residual blocks, a final RMSNorm, a tied output layer."""

    def __init__(self, cfg: GriffinConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(ResidualBlock(cfg, kind) for kind in cfg.kinds)
        self.final_norm = RMSNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.embed_tokens.weight
        nn.init.normal_(self.embed_tokens.weight, std=cfg.d_model**-0.5)
        for layer in self.layers:
            for proj in (layer.mlp.gate_proj, layer.mlp.up_proj):
                nn.init.normal_(proj.weight, std=cfg.d_model**-0.5)
                nn.init.zeros_(proj.bias)
            # the residual branches' last layers start small: 1/√(width · n_layer)
            block = layer.temporal_block
            outs = [layer.mlp.down_proj, block.linear_out if layer.kind == "recurrent" else block.o_proj]
            for proj in outs:
                nn.init.normal_(proj.weight, std=(proj.in_features * cfg.n_layer) ** -0.5)
                if proj.bias is not None:
                    nn.init.zeros_(proj.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: Tensor, sequential: bool = False) -> Tensor:
        x = self.embed_tokens(idx) * math.sqrt(self.cfg.d_model)
        for layer in self.layers:
            x = layer(x, sequential)
        return self.lm_head(self.final_norm(x))

    def loss(self, idx: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(self(idx).flatten(0, 1), targets.flatten())

    def init_state(self, batch: int) -> list[dict]:
        return [layer.temporal_block.init_state(batch) for layer in self.layers]

    def step(self, token: Tensor, states: list[dict]) -> Tensor:
        """Logits (B, V) for the next token after ``token`` (B,), updating ``states``."""
        x = self.embed_tokens(token) * math.sqrt(self.cfg.d_model)
        for layer, state in zip(self.layers, states, strict=True):
            x = layer.step(x, state)
        return self.lm_head(self.final_norm(x))

    @torch.no_grad()
    def generate_greedy(self, idx: Tensor, max_new_tokens: int) -> Tensor:
        """Read ``idx`` (B, T) a token at a time, then append ``max_new_tokens`` greedy tokens."""
        states = self.init_state(idx.shape[0])
        logits = None
        for t in range(idx.shape[1]):
            logits = self.step(idx[:, t], states)
        out = [idx]
        for _ in range(max_new_tokens):
            assert logits is not None
            token = logits.argmax(-1)
            out.append(token[:, None])
            logits = self.step(token, states)
        return torch.cat(out, dim=1)


def state_bytes(states: list[dict]) -> int:
    """The bytes of every tensor a decoder carries from one token to the next."""
    return sum(v.numel() * v.element_size() for s in states for v in s.values() if isinstance(v, Tensor))
