"""The Transformer's layers, and the decoder-only language model later papers reuse.

Vaswani et al. (2017), "Attention Is All You Need": the encoder and decoder layers (Sec. 3.1),
sinusoidal positions (Sec. 3.5) and shared input/output embeddings (Sec. 3.4). Radford et al.
(2018, 2019) for the decoder-only model: the Transformer's decoder without cross-attention,
trained to predict the next token, with the layer norm moved to the input of each sub-layer
(pre-LN, GPT-2; Xiong et al. 2020 show why it trains without warm-up troubles).

A layer is two or three sub-layers, each wrapped in a residual connection and a layer norm:

    post-LN (the paper)   x = LayerNorm(x + Dropout(Sublayer(x)))
    pre-LN  (GPT-2)       x = x + Dropout(Sublayer(LayerNorm(x)))

with Sublayer = masked self-attention, then (in an encoder–decoder's decoder) attention over the
encoder's output, then the position-wise feed-forward network FFN(x) = W_2 act(W_1 x + b_1) + b_2
(Eq. 2). ``TransformerLayer`` names its parts as ``torch.nn.TransformerEncoderLayer`` and
``TransformerDecoderLayer`` do (``self_attn``, ``multihead_attn``, ``linear1``, ``linear2``,
``norm1``..``norm3``), so their state dicts load and give the same numbers (tested).

``DecoderOnlyTransformer`` is the model that ``scaling-laws``, the 2024 papers and the toolkit
train: token and position embeddings, pre-LN layers with causal self-attention, a final layer
norm and an output layer tied to the token embedding. ``generate`` keeps a KV cache and gives
exactly the tokens that recomputing the whole prefix at every step gives (tested).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.nn.attention import KVCache, MultiHeadAttention

__all__ = [
    "DecoderOnlyTransformer",
    "TransformerConfig",
    "TransformerLayer",
    "check_shape",
    "sinusoidal_positions",
]


def sinusoidal_positions(length: int, d_model: int) -> Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))  (Sec. 3.5).

    Returns (length, d_model). Each dimension is a sinusoid of its own wavelength, from 2π to
    10000·2π, so PE(pos + k) is a linear function of PE(pos) for any fixed offset k.
    """
    pos = torch.arange(length, dtype=torch.float64)[:, None]  # (L, 1)
    rates = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(length, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * rates)
    pe[:, 1::2] = torch.cos(pos * rates[: d_model // 2])
    return pe.float()


_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


class TransformerLayer(nn.Module):
    """One encoder layer, decoder-only layer (``causal=True`` at call time), or, with
    ``cross_attention=True``, one encoder–decoder decoder layer."""

    def __init__(
        self,
        d_model: int,
        n_head: int,
        d_ff: int,
        dropout: float = 0.1,
        *,
        norm_first: bool = True,
        activation: Literal["relu", "gelu"] = "relu",
        cross_attention: bool = False,
        bias: bool = True,
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.norm_first, self.cross_attention = norm_first, cross_attention
        self.activation = _ACTIVATIONS[activation]
        self.self_attn = MultiHeadAttention(d_model, n_head, dropout, bias=bias, fused=fused)
        if cross_attention:
            self.multihead_attn = MultiHeadAttention(d_model, n_head, dropout, bias=bias, fused=fused)
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)  # FFN: W_1, b_1
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)  # FFN: W_2, b_2
        self.norm1 = nn.LayerNorm(d_model, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, bias=bias)
        if cross_attention:
            self.norm3 = nn.LayerNorm(d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.attention: dict[str, Tensor | None] = {}  # per-head weights of the last call, if asked

    def forward(
        self,
        x: Tensor,
        *,
        causal: bool = False,
        padding_mask: Tensor | None = None,
        memory: Tensor | None = None,
        memory_padding_mask: Tensor | None = None,
        memory_kv: tuple[Tensor, Tensor] | None = None,
        cache: KVCache | None = None,
        need_weights: bool = False,
        prefix_kv: tuple[Tensor, Tensor] | None = None,
        attn_mask: Tensor | None = None,
        kv: Tensor | None = None,
    ) -> Tensor:
        """x (B, T, d) → (B, T, d). ``padding_mask`` (B, T) and ``memory_padding_mask`` (B, S):
        True at padding. ``memory_kv``: the cross-attention keys and values of ``memory``, when
        the caller projected them once for many decoding steps. ``prefix_kv``: keys and values
        every position attends first (prefix tuning). ``attn_mask``: torch's self-attention mask
        (True where attention is not allowed), e.g. per head, (1, h, T, S). ``kv`` (B, S, d): the
        positions self-attention reads keys and values from, normalized as x is, when they are not
        x itself (blockwise attention over a memory, as TransformerFAM's)."""
        kv_h = kv if kv is None or not self.norm_first else self.norm1(kv)

        def self_attention(h: Tensor) -> Tensor:
            source = h if kv_h is None else kv_h
            out, w = self.self_attn(
                h,
                source,
                source,
                padding_mask,
                attn_mask,
                causal=causal,
                need_weights=need_weights,
                cache=cache,
                prefix_kv=prefix_kv,
            )
            self.attention["self"] = w
            return out

        def cross_attention(h: Tensor) -> Tensor:
            out, w = self.multihead_attn(
                h, memory, memory, memory_padding_mask, need_weights=need_weights, static_kv=memory_kv
            )
            self.attention["cross"] = w
            return out

        def feed_forward(h: Tensor) -> Tensor:
            return self.linear2(self.dropout(self.activation(self.linear1(h))))  # Eq. 2

        sublayers: list[tuple[Callable[[Tensor], Tensor], nn.LayerNorm]] = [(self_attention, self.norm1)]
        if self.cross_attention:
            sublayers.append((cross_attention, self.norm2))
            sublayers.append((feed_forward, self.norm3))
        else:
            sublayers.append((feed_forward, self.norm2))
        for sublayer, norm in sublayers:
            if self.norm_first:
                x = x + self.dropout(sublayer(norm(x)))  # pre-LN
            else:
                x = norm(x + self.dropout(sublayer(x)))  # post-LN: LayerNorm(x + Sublayer(x))
        return x


def check_shape(d_model: int, n_head: int, dropout: float, *, sinusoidal: bool) -> None:
    """The constraints every Transformer configuration shares, with messages a user can act on."""
    if d_model % n_head:
        raise ValueError(
            f"the width d_model={d_model} must be divisible by the number of heads "
            f"n_head={n_head} (each head gets d_model / n_head dimensions)"
        )
    if sinusoidal and d_model % 2:
        raise ValueError(f"sinusoidal positions need an even d_model, got {d_model}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


# ---- the decoder-only language model ---------------------------------------------------------


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int
    block_size: int  # the longest context the model sees (learned positions stop there)
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    d_ff: int = 0  # 0: 4 · d_model, as in both papers
    dropout: float = 0.0
    positions: Literal["learned", "sinusoidal", "none"] = "learned"  # none: NoPE, order from the mask alone
    # per head, the most recent keys it may attend (0: all): Jelassi et al.'s "hard ALiBi"
    head_windows: tuple[int, ...] = ()
    tie_weights: bool = True  # output layer shares the token embedding (Sec. 3.4; Press & Wolf 2017)
    bias: bool = True
    activation: Literal["relu", "gelu"] = "gelu"
    fused: bool = True  # F.scaled_dot_product_attention; False: the explicit softmax(QKᵀ/√d)V

    def validate(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_shape(self.d_model, self.n_head, self.dropout, sinusoidal=self.positions == "sinusoidal")
        if self.d_ff < 0:
            raise ValueError(f"d_ff must be >= 0 (0 means 4 · d_model), got {self.d_ff}")
        if self.positions not in ("learned", "sinusoidal", "none"):
            raise ValueError(f"positions must be learned, sinusoidal or none, got {self.positions!r}")
        if self.head_windows and (
            len(self.head_windows) != self.n_head or any(w < 0 for w in self.head_windows)
        ):
            raise ValueError(
                f"head_windows needs one window >= 0 per head ({self.n_head}; 0: no limit), "
                f"got {self.head_windows}"
            )

    @property
    def ff_width(self) -> int:
        return self.d_ff or 4 * self.d_model

    def layer(self) -> TransformerLayer:
        """One pre-LN decoder layer of this configuration (the model's, or an extra head's)."""
        return TransformerLayer(
            self.d_model,
            self.n_head,
            self.ff_width,
            self.dropout,
            norm_first=True,
            activation=self.activation,
            bias=self.bias,
            fused=self.fused,
        )


class DecoderOnlyTransformer(nn.Module):
    """Next-token prediction: p(x_t | x_<t) from token + position embeddings through causal,
    pre-LN Transformer layers."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        if cfg.positions == "learned":
            self.pos_emb = nn.Embedding(cfg.block_size, cfg.d_model)
        elif cfg.positions == "sinusoidal":
            self.register_buffer(
                "pos_table", sinusoidal_positions(cfg.block_size, cfg.d_model), persistent=False
            )
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(cfg.layer() for _ in range(cfg.n_layer))
        self.norm_f = nn.LayerNorm(cfg.d_model, bias=cfg.bias)  # pre-LN needs a norm after the last layer
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(self._init_weights)
        for layer in self.layers:  # GPT-2: residual projections scaled by 1/√(2 · n_layer)
            for p in (layer.self_attn.out_proj.weight, layer.linear2.weight):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))
        if cfg.tie_weights:
            self.lm_head.weight = self.tok_emb.weight

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, MultiHeadAttention):
            nn.init.normal_(module.in_proj_weight, mean=0.0, std=0.02)

    def num_parameters(self, non_embedding: bool = True) -> int:
        """Parameters, counted once if tied; ``non_embedding`` drops the token and position
        tables, as Kaplan et al. (2020) count N."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.tok_emb.weight.numel()
            if self.cfg.positions == "learned":
                n -= self.pos_emb.weight.numel()
        return n

    def flops_per_token(self, context: int | None = None) -> float:
        """Training FLOPs per token: 6N for the weight matmuls (forward 2N, backward 4N) plus
        12 · n_layer · n_ctx · d_model for the attention scores and their mix of the values
        (Chowdhery et al. 2022, PaLM, Appendix B), with the output layer's matmul included in N."""
        cfg = self.cfg
        n = self.num_parameters(non_embedding=True) + cfg.vocab_size * cfg.d_model  # + the output matmul
        t = context or cfg.block_size
        return 6.0 * n + 12.0 * cfg.n_layer * t * cfg.d_model

    def positions(self, start: int, length: int) -> Tensor:
        if start + length > self.cfg.block_size:
            raise ValueError(
                f"a sequence of {start + length} tokens is longer than the model's block_size "
                f"{self.cfg.block_size}"
            )
        if self.cfg.positions == "learned":
            return self.pos_emb.weight[start : start + length]
        if self.cfg.positions == "none":
            return self.tok_emb.weight.new_zeros(length, self.cfg.d_model)
        return self.pos_table[start : start + length]

    def window_mask(self, start: int, length: int) -> Tensor | None:
        """(1, h, T, S) bool, True where head h may *not* attend: keys more than its window
        back (``head_windows``); None without windows. Causality is added by the layers."""
        if not self.cfg.head_windows:
            return None
        device = self.tok_emb.weight.device
        i = torch.arange(start, start + length, device=device)[:, None]  # query positions
        j = torch.arange(start + length, device=device)[None, :]  # key positions
        w = torch.tensor(self.cfg.head_windows, device=device)[:, None, None]
        return ((i - j >= w) & (w > 0))[None]  # (1, h, T, S)

    def forward(
        self,
        idx: Tensor,
        *,
        caches: list[KVCache] | None = None,
        padding_mask: Tensor | None = None,
        need_weights: bool = False,
        prompt: Tensor | None = None,
        prefix: Sequence[tuple[Tensor, Tensor]] | None = None,
        features: bool = False,
        causal: bool = True,
    ) -> Tensor:
        """Logits (B, T, V) for token ids (B, T). With ``caches`` (one per layer), ``idx`` are the
        tokens after those already cached, at positions from the cache's length on.

        Two ways to steer a frozen model, for parameter-efficient fine-tuning
        (``landmarks.nn.prompts``): ``prompt`` (P, d), embeddings put before the tokens' own, at
        positions 0..P−1 (prompt tuning; the logits returned are the tokens' only); ``prefix``,
        per layer the keys and values (h, P, d_k) every position attends first (prefix tuning).
        ``features``: return the residual stream after the last layer, (B, T, d), before the
        final norm and the output layer (a trunk that other heads read, as multi-token
        prediction's do). ``causal=False``: every position attends every other (bidirectional,
        as LLM2Vec turns a decoder into an encoder); not with a KV cache.
        """
        if not causal and caches:
            raise ValueError("bidirectional attention needs the whole sequence, not a KV cache")
        start = caches[0].length if caches else 0
        x = self.tok_emb(idx)  # (B, T, d)
        n_prompt = 0
        if prompt is not None:
            if caches:
                raise ValueError("a soft prompt goes with the whole sequence, not with a KV cache")
            n_prompt = prompt.shape[-2]
            x = torch.cat([prompt.expand(x.shape[0], *prompt.shape[-2:]), x], dim=1)
            if padding_mask is not None:
                padding_mask = F.pad(padding_mask, (n_prompt, 0), value=False)
        if prefix is not None and len(prefix) != len(self.layers):
            raise ValueError(
                f"prefix: one (keys, values) pair per layer, {len(self.layers)}, got {len(prefix)}"
            )
        x = self.drop(x + self.positions(start, x.shape[1]))
        windows = self.window_mask(start, x.shape[1])
        if windows is not None and prefix is not None:
            raise ValueError("head windows and a prefix do not combine")
        for i, layer in enumerate(self.layers):
            x = layer(
                x,
                attn_mask=windows,
                causal=causal,
                padding_mask=padding_mask,
                cache=caches[i] if caches else None,
                need_weights=need_weights,
                prefix_kv=prefix[i] if prefix is not None else None,
            )
        x = x[:, n_prompt:]
        return x if features else self.lm_head(self.norm_f(x))  # (B, T, d) or (B, T, V)

    def residual_stream(self, idx: Tensor) -> list[Tensor]:
        """x^0, ..., x^L: the input of every layer and the last layer's output, (B, T, d) each
        (what a layer adds to the stream is x^(ℓ+1) − x^ℓ; layer-pruning compares them)."""
        x = self.drop(self.tok_emb(idx) + self.positions(0, idx.shape[1]))
        windows = self.window_mask(0, idx.shape[1])
        stream = [x]
        for layer in self.layers:
            x = layer(x, attn_mask=windows, causal=True)
            stream.append(x)
        return stream

    def without_layers(self, start: int, count: int) -> DecoderOnlyTransformer:
        """A copy with layers start..start+count−1 removed: x^start feeds layer start+count."""
        if not (start >= 0 and count >= 0 and start + count <= len(self.layers)):
            raise ValueError(
                f"cannot remove layers {start}..{start + count - 1} of a {len(self.layers)}-layer model"
            )
        pruned = copy.deepcopy(self)
        del pruned.layers[start : start + count]
        pruned.cfg = replace(self.cfg, n_layer=len(pruned.layers))
        return pruned

    def unstack_in_proj(self) -> None:
        """Each attention layer's stacked W^Q; W^K; W^V as an ``nn.Linear`` named
        ``self_attn.in_proj``, so that LoRA, NF4 and peft can wrap it (same outputs)."""
        for layer in self.layers:
            layer.self_attn.unstack_in_proj()

    def loss(self, idx: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
        """Mean next-token cross-entropy in nats; ``targets`` is ``idx`` shifted left by one."""
        logits = self(idx)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=ignore_index)

    def new_caches(self) -> list[KVCache]:
        return [KVCache(self.cfg.block_size) for _ in self.layers]

    @torch.no_grad()
    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> Tensor:
        """Append ``max_new_tokens`` tokens to ``idx`` (B, T); returns (B, T + max_new_tokens).

        With the cache, each step feeds only the newest token. Without it, each step feeds the
        last ``block_size`` tokens again. Once the context is full both slide the window, which
        shifts every position, so the cache is refilled from the window: the same tokens either way.
        """
        from landmarks.nn.decoding import sample_next

        def pick(logits: Tensor) -> Tensor:
            return sample_next(
                logits, temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy, generator=generator
            )

        block = self.cfg.block_size
        caches: list[KVCache] | None = None
        for _ in range(max_new_tokens):
            window = idx[:, -block:]
            if not use_cache:
                logits = self(window)[:, -1]
            elif caches is None or caches[0].length >= block:
                caches = self.new_caches()  # (re)fill: the first step, or a window that slid
                logits = self(window, caches=caches)[:, -1]
            else:
                logits = self(idx[:, -1:], caches=caches)[:, -1]
            idx = torch.cat([idx, pick(logits)[:, None]], dim=1)
        return idx
