"""Attention, written out: additive (Bahdanau), scaled dot-product and multi-head.

Bahdanau, Cho and Bengio (2015), "Neural Machine Translation by Jointly Learning to Align and
Translate", Sec. 3.1 and Appendix A.1.2: additive attention. Vaswani et al. (2017),
"Attention Is All You Need", Sec. 3.2: scaled dot-product and multi-head attention.

Every attention here answers the same question: given a query, how much of each value to take.
The query is scored against every key, the scores become a distribution with a softmax over the
keys, and the output is the expectation of the values under it. The three differ in the score:

    additive        e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j)          (Bahdanau, Eq. 6 and A.1.2)
    dot-product     e_ij = q_i · k_j / √d_k                            (Vaswani, Eq. 1)
    multi-head      h parallel dot-product attentions on learned projections, concatenated
                    and projected back: MultiHead(Q, K, V) = Concat(head_1..h) W^O  (Sec. 3.2.2)

Masks. The functional core takes a boolean ``mask`` in which True means *may attend*, as
``F.scaled_dot_product_attention`` does. ``MultiHeadAttention`` takes ``torch.nn.MultiheadAttention``'s
conventions instead (``key_padding_mask`` and a boolean ``attn_mask`` in which True means *may not
attend*), so that code written for torch's module works unchanged with ours.

Two paths to the same numbers. ``fused=True`` (the default) calls PyTorch's fused kernel
(``F.scaled_dot_product_attention``: flash or memory-efficient attention where available);
``fused=False`` runs the equation with a matmul, a softmax and a matmul. The tests hold the two
to each other and ``MultiHeadAttention`` to ``torch.nn.MultiheadAttention`` with copied weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "AdditiveAttention",
    "KVCache",
    "MultiHeadAttention",
    "causal_mask",
    "scaled_dot_product_attention",
]


# ---- additive attention (Bahdanau et al. 2015) -------------------------------------------------


class AdditiveAttention(nn.Module):
    """e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j); α_ij = softmax_j(e_ij); c_i = Σ_j α_ij h_j.

    ``query`` is the decoder state s_{i-1} (B, Dq), ``keys`` the encoder annotations h_j
    (B, S, Dk). U_a h_j does not depend on the decoder step, so ``project_keys`` computes it once
    per sentence and the decoder passes it back in at every step (Appendix A.1.2 notes the same).
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        self.query_proj = nn.Linear(query_size, hidden_size, bias=False)  # W_a
        self.key_proj = nn.Linear(key_size, hidden_size, bias=True)  # U_a (the bias b_a lives here)
        self.score = nn.Linear(hidden_size, 1, bias=False)  # v_a

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)  # (B, S, Dh): U_a h_j for every j, once per sentence

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor | None = None, projected_keys: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Context (B, Dk) and weights (B, S). ``mask`` (B, S): True where a key may be attended."""
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        energy = self.score(torch.tanh(self.query_proj(query)[:, None, :] + projected_keys))  # (B, S, 1)
        energy = energy.squeeze(-1)  # (B, S): e_ij
        if mask is not None:
            energy = energy.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(energy, dim=-1)  # (B, S): α_ij, the soft alignment
        context = torch.bmm(weights[:, None, :], keys).squeeze(1)  # (B, Dk): c_i = Σ_j α_ij h_j
        return context, weights


# ---- scaled dot-product attention (Vaswani et al. 2017, Sec. 3.2.1) --------------------------


def causal_mask(queries: int, keys: int, device: torch.device | str | None = None) -> Tensor:
    """(queries, keys) bool, True where query i may attend key j: j ≤ i + (keys − queries).

    The queries are the *last* ``queries`` positions of the ``keys``-long sequence, which is
    what a decoder with a cache of earlier keys needs (and equals the usual lower triangle
    when the two lengths agree).
    """
    offset = keys - queries
    return torch.ones(queries, keys, dtype=torch.bool, device=device).tril(diagonal=offset)


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    causal: bool = False,
    dropout_p: float = 0.0,
    fused: bool = True,
    need_weights: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Attention(Q, K, V) = softmax(QKᵀ / √d_k) V  (Eq. 1), on (..., T, d) and (..., S, d).

    ``mask`` broadcasts to (..., T, S): bool, True where a query may attend a key, or float,
    added to the scores (−inf forbids); ``causal`` adds ``causal_mask``. Returns (output (..., T, d_v), weights (..., T, S) or None). The weights
    need the explicit path, so ``need_weights=True`` takes it whatever ``fused`` says.
    """
    if causal and mask is None and fused and not need_weights and q.shape[-2] == k.shape[-2]:
        # the fused kernel's own causal path skips the masked half (flash attention on CPU too)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        return out, None
    if causal:
        tri = causal_mask(q.shape[-2], k.shape[-2], q.device)
        if mask is None:
            mask = tri
        elif mask.dtype == torch.bool:
            mask = mask & tri
        else:
            mask = mask.masked_fill(~tri, float("-inf"))
    if fused and not need_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        return out, None
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S): q_i · k_j / √d_k
    if mask is not None and mask.dtype == torch.bool:
        scores = scores.masked_fill(~mask, float("-inf"))
    elif mask is not None:
        scores = scores + mask
    weights = torch.softmax(scores, dim=-1)  # each query's distribution over the keys
    attended = weights
    if dropout_p > 0.0:  # dropout on the attention weights, as the fused kernel does
        keep = torch.rand(weights.shape, generator=generator, device=weights.device) >= dropout_p
        attended = weights * keep / (1.0 - dropout_p)
    return attended @ v, weights  # (..., T, d_v)


# ---- multi-head attention (Sec. 3.2.2) ----------------------------------------------------------


class KVCache:
    """The keys and values of one attention layer for the tokens generated so far.

    A decoder generating token t needs the keys and values of tokens 0..t−1, which do not
    change once computed. Keeping them turns each step's cost from O(t) projections into one.
    Stored as (B, h, T, d_k), preallocated to ``capacity`` so appending is a copy, not a cat.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.length = 0
        self.k: Tensor | None = None
        self.v: Tensor | None = None

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add (B, h, t, d) keys and values; return all of them so far, (B, h, length, d)."""
        b, h, t, d = k.shape
        if self.k is None:
            self.k = k.new_empty(b, h, self.capacity, d)
            self.v = v.new_empty(b, h, self.capacity, v.shape[-1])
        assert self.v is not None
        if self.length + t > self.capacity:
            raise ValueError(f"KV cache full: {self.length} + {t} tokens exceed its capacity {self.capacity}")
        self.k[:, :, self.length : self.length + t] = k
        self.v[:, :, self.length : self.length + t] = v
        self.length += t
        return self.k[:, :, : self.length], self.v[:, :, : self.length]

    def reorder(self, index: Tensor) -> None:
        """Keep the batch rows ``index`` (beam search reorders its hypotheses every step)."""
        if self.k is not None and self.v is not None:
            self.k, self.v = self.k.index_select(0, index), self.v.index_select(0, index)


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O, head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V).

    Parameter names and layout are ``torch.nn.MultiheadAttention``'s (``in_proj_weight`` stacks
    W^Q, W^K, W^V row-wise; ``out_proj`` is W^O), so its state dict loads with ``strict=True``.
    Inputs are batch-first, (B, T, E). ``forward`` takes torch's masks: ``key_padding_mask``
    (B, S), True at padding keys; ``attn_mask`` (T, S) or (B·h, T, S) bool, True where attention is
    *not* allowed, or float, added to the scores. ``causal=True`` adds the causal mask.
    """

    def __init__(
        self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True, fused: bool = True
    ) -> None:
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.dropout, self.fused = dropout, fused
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))  # W^Q; W^K; W^V
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)  # W^O
        self._reset_parameters()

    def _reset_parameters(self) -> None:  # torch's own initialization
        nn.init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # (B, h, T, d_k)

    def unstack_in_proj(self) -> nn.Module:
        """Move W^Q; W^K; W^V from the ``in_proj_weight`` parameter into an ``nn.Linear`` named
        ``in_proj`` (the same numbers), so that what wraps linear layers by name (LoRA, NF4,
        peft) reaches the query, key and value projections too. Returns the new layer."""
        if "in_proj" in self._modules:
            return self._modules["in_proj"]
        e, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        linear = nn.Linear(e, 3 * e, bias=b is not None, device=w.device, dtype=w.dtype)
        with torch.no_grad():
            linear.weight.copy_(w)
            if b is not None:
                linear.bias.copy_(b)
        del self.in_proj_weight, self.in_proj_bias
        self.in_proj_weight = self.in_proj_bias = None  # the numbers now live in in_proj
        self.in_proj = linear
        return linear

    def project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Q W^Q, K W^K, V W^V split into heads, each (B, h, ·, d_k); one matmul for self-attention."""
        if "in_proj" in self._modules:  # unstacked, perhaps wrapped: call it as a layer
            e = self.embed_dim
            if query is key and key is value:
                q, k, v = self.in_proj(query).chunk(3, dim=-1)
            else:  # each input through the whole layer, keeping its own third (not a fast path)
                q, k, v = (
                    self.in_proj(x)[..., i * e : (i + 1) * e] for i, x in enumerate((query, key, value))
                )
            return self._heads(q), self._heads(k), self._heads(v)
        w, b = self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:
            q, k, v = F.linear(query, w, b).chunk(3, dim=-1)  # (B, T, E) each
        else:
            w_q, w_k, w_v = w.chunk(3)
            b_q, b_k, b_v = b.chunk(3) if b is not None else (None, None, None)
            q = F.linear(query, w_q, b_q)
            if key is value:
                k, v = F.linear(
                    key, torch.cat([w_k, w_v]), None if b is None else torch.cat([b_k, b_v])
                ).chunk(2, dim=-1)
            else:
                k, v = F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
        return self._heads(q), self._heads(k), self._heads(v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        *,
        causal: bool = False,
        need_weights: bool = False,
        cache: KVCache | None = None,
        static_kv: tuple[Tensor, Tensor] | None = None,
        prefix_kv: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Output (B, T, E) and, with ``need_weights``, the per-head weights (B, h, T, S).

        ``cache``: self-attention while generating; this call's keys and values are appended to
        it and the queries attend everything cached. ``static_kv``: keys and values already
        projected (cross-attention to an encoder's output, computed once per sentence with
        ``project``). ``prefix_kv``: keys and values (h, P, d_k) or (B, h, P, d_k) that every
        query attends before the sequence's own (prefix tuning), unmasked.
        """
        b, t, _ = query.shape
        if static_kv is not None:
            q = self._heads(self._project_q(query))
            k, v = static_kv
        else:
            q, k, v = self.project(query, key, value)  # (B, h, T, d_k), (B, h, S, d_k), (B, h, S, d_k)
            if cache is not None:
                k, v = cache.append(k, v)  # all keys so far: (B, h, S_total, d_k)
        if prefix_kv is not None:
            if attn_mask is not None:
                raise ValueError("prefix_kv takes no attn_mask; use causal and key_padding_mask")
            pk, pv = (p.expand(b, *p.shape[-3:]) for p in prefix_kv)
            k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
            if key_padding_mask is not None:  # the prefix is never padding
                key_padding_mask = F.pad(key_padding_mask, (pk.shape[2], 0), value=False)
        mask = _allowed(key_padding_mask, attn_mask, b, self.num_heads, t, k.shape[-2], q.dtype)
        out, weights = scaled_dot_product_attention(
            q,
            k,
            v,
            mask,
            causal=causal,
            dropout_p=self.dropout if self.training else 0.0,
            fused=self.fused,
            need_weights=need_weights,
        )
        out = out.transpose(1, 2).reshape(b, t, self.embed_dim)  # (B, T, E): the heads concatenated
        return self.out_proj(out), weights

    def _project_q(self, query: Tensor) -> Tensor:
        if "in_proj" in self._modules:
            return self.in_proj(query)[..., : self.embed_dim]
        return F.linear(query, *self._q_weights())

    def _q_weights(self) -> tuple[Tensor, Tensor | None]:
        e = self.embed_dim
        bias = self.in_proj_bias[:e] if self.in_proj_bias is not None else None
        return self.in_proj_weight[:e], bias

    def project_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """K W^K and V W^V of a fixed memory (an encoder's output), for ``static_kv``."""
        e, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        if "in_proj" in self._modules:
            kv = self.in_proj(memory)[..., e:]
        else:
            kv = F.linear(memory, w[e:], b[e:] if b is not None else None)  # (B, S, 2E)
        k, v = kv.chunk(2, dim=-1)
        return self._heads(k), self._heads(v)


def _allowed(
    key_padding_mask: Tensor | None,
    attn_mask: Tensor | None,
    batch: int,
    heads: int,
    queries: int,
    keys: int,
    dtype: torch.dtype,
) -> Tensor | None:
    """torch's masks (True = *not* allowed; or float, added) turned into one for the core.

    Returns None, a bool mask (True = may attend), or a float mask to add to the scores, each
    broadcastable to (B, h, T, S).
    """
    mask: Tensor | None = None
    if key_padding_mask is not None:
        if key_padding_mask.dtype != torch.bool:
            raise TypeError("key_padding_mask must be a bool tensor (True at padding)")
        mask = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, S)
    if attn_mask is None:
        return mask
    if attn_mask.dim() == 3:  # (B·h, T, S), torch's layout for per-head masks
        attn_mask = attn_mask.view(batch, heads, queries, keys)
    # a 4-D mask, (B or 1, h, T, S), is already in the core's layout
    if attn_mask.dtype == torch.bool:
        allowed = ~attn_mask
        return allowed if mask is None else mask & allowed
    additive = attn_mask.to(dtype)
    if mask is not None:
        additive = additive.masked_fill(~mask, float("-inf"))
    return additive
