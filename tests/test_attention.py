"""Attention and the Transformer layers: the explicit math, the fused kernel and torch.nn agree."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landmarks.nn.attention import (
    AdditiveAttention,
    KVCache,
    MultiHeadAttention,
    causal_mask,
    scaled_dot_product_attention,
)
from landmarks.nn.transformer import (
    DecoderOnlyTransformer,
    TransformerConfig,
    TransformerLayer,
    sinusoidal_positions,
)

torch.set_default_dtype(torch.float32)


def _qkv(b=2, h=3, t=5, s=7, d=8, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return (
        (torch.randn(b, h, t, d, generator=g, dtype=dtype) for _ in range(3))
        if t == s
        else (
            torch.randn(b, h, t, d, generator=g, dtype=dtype),
            torch.randn(b, h, s, d, generator=g, dtype=dtype),
            torch.randn(b, h, s, d, generator=g, dtype=dtype),
        )
    )


# ---- scaled dot-product attention ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal", "padding+causal"])
def test_explicit_attention_equals_the_fused_kernel(kind: str) -> None:
    q, k, v = _qkv(t=6, s=6)
    g = torch.Generator().manual_seed(1)
    mask, causal = None, False
    if kind == "bool":
        mask = torch.rand(2, 1, 6, 6, generator=g) > 0.3
        mask[..., 0] = True  # every query keeps one key
    elif kind == "float":
        mask = torch.randn(2, 3, 6, 6, generator=g, dtype=torch.float64)
    elif kind == "causal":
        causal = True
    elif kind == "padding+causal":
        mask = torch.ones(2, 1, 1, 6, dtype=torch.bool)
        mask[1, ..., 4:] = False
        causal = True
    explicit, weights = scaled_dot_product_attention(q, k, v, mask, causal=causal, fused=False)
    fused, _ = scaled_dot_product_attention(q, k, v, mask, causal=causal, fused=True)
    torch.testing.assert_close(explicit, fused, atol=1e-10, rtol=1e-10)
    tri = causal_mask(6, 6) if causal else torch.ones(6, 6, dtype=torch.bool)
    reference = F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=(mask & tri) if mask is not None and mask.dtype == torch.bool else mask,
        is_causal=causal and (mask is None or mask.dtype != torch.bool),
    )
    torch.testing.assert_close(explicit, reference, atol=1e-10, rtol=1e-10)
    assert weights is not None
    torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))


def test_attention_weights_are_zero_where_masked_and_equation_holds() -> None:
    q, k, v = _qkv(b=1, h=1, t=3, s=4, d=2)
    mask = torch.tensor([[True, False, True, True]])
    out, w = scaled_dot_product_attention(q, k, v, mask, fused=False)
    assert torch.all(w[..., 1] == 0)
    scores = (q @ k.transpose(-1, -2)) / 2**0.5
    scores[..., 1] = float("-inf")
    torch.testing.assert_close(out, torch.softmax(scores, -1) @ v)


def test_causal_mask_with_cached_keys_is_offset() -> None:
    m = causal_mask(2, 5)  # the last two of five positions
    assert m.tolist() == [[True, True, True, True, False], [True] * 5]
    assert torch.equal(causal_mask(4, 4), torch.ones(4, 4, dtype=torch.bool).tril())


# ---- multi-head attention vs torch.nn.MultiheadAttention ----------------------------------------


def _pair(e=16, h=4, bias=True, fused=True):
    torch.manual_seed(0)
    ours = MultiHeadAttention(e, h, bias=bias, fused=fused).double()
    ref = nn.MultiheadAttention(e, h, bias=bias, batch_first=True).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours, ref


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("case", ["self", "cross", "padding", "bool_mask", "float_mask", "causal"])
def test_multihead_equals_torch(case: str, fused: bool) -> None:
    ours, ref = _pair(fused=fused)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 5, 16, generator=g, dtype=torch.float64, requires_grad=True)
    mem = torch.randn(3, 7, 16, generator=g, dtype=torch.float64)
    query, key = (x, x) if case != "cross" else (x, mem)
    kpm = attn = None
    causal = False
    if case == "padding":
        kpm = torch.zeros(3, 5, dtype=torch.bool)
        kpm[1, 3:] = True
    if case == "bool_mask":
        attn = torch.rand(5, 5, generator=g) > 0.6
        attn.fill_diagonal_(False)
    if case == "float_mask":
        attn = torch.randn(5, 5, generator=g, dtype=torch.float64)
    if case == "causal":
        causal = True
        attn_ref = torch.ones(5, 5, dtype=torch.bool).triu(1)
    out, w = ours(query, key, key, kpm, attn, causal=causal, need_weights=True)
    ref_out, ref_w = ref(
        query,
        key,
        key,
        key_padding_mask=kpm,
        attn_mask=attn_ref if causal else attn,
        average_attn_weights=False,
    )
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)
    # and without weights, through the chosen path, with gradients
    out2, _ = ours(query, key, key, kpm, attn, causal=causal)
    (grad,) = torch.autograd.grad(out2.square().sum(), x)
    (ref_grad,) = torch.autograd.grad(ref_out.square().sum(), x)
    torch.testing.assert_close(out2, ref_out)
    torch.testing.assert_close(grad, ref_grad)


def test_multihead_without_bias_loads_torch_weights() -> None:
    ours, ref = _pair(bias=False)
    x = torch.randn(2, 4, 16, dtype=torch.float64)
    torch.testing.assert_close(ours(x, x, x)[0], ref(x, x, x)[0])


def test_heads_must_divide_the_width() -> None:
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)


def test_kv_cache_gives_the_same_outputs_as_the_full_sequence() -> None:
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4).double().eval()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    full, _ = mha(x, x, x, causal=True)
    cache = KVCache(capacity=8)
    first, _ = mha(x[:, :4], x[:, :4], x[:, :4], causal=True, cache=cache)
    rest = [
        mha(x[:, t : t + 1], x[:, t : t + 1], x[:, t : t + 1], causal=True, cache=cache)[0] for t in (4, 5)
    ]
    torch.testing.assert_close(torch.cat([first, *rest], 1), full)
    with pytest.raises(ValueError, match="capacity"):
        mha(x[:, :3], x[:, :3], x[:, :3], cache=cache)


def test_static_kv_equals_cross_attention() -> None:
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4).double()
    x, mem = torch.randn(2, 3, 16, dtype=torch.float64), torch.randn(2, 5, 16, dtype=torch.float64)
    torch.testing.assert_close(mha(x, mem, mem, static_kv=mha.project_kv(mem))[0], mha(x, mem, mem)[0])


# ---- additive attention ------------------------------------------------------------------------


def test_additive_attention_equation_and_mask() -> None:
    torch.manual_seed(0)
    att = AdditiveAttention(query_size=6, key_size=4, hidden_size=5).double()
    s = torch.randn(2, 6, dtype=torch.float64)
    h = torch.randn(2, 3, 4, dtype=torch.float64)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    context, weights = att(s, h, mask)
    # e_ij = v_a^T tanh(W_a s + U_a h_j + b), by hand, one (i, j) at a time
    for b in range(2):
        e = torch.stack(
            [
                att.score.weight[0] @ torch.tanh(att.query_proj.weight @ s[b] + att.key_proj(h[b, j]))
                for j in range(3)
            ]
        )
        if not mask[b].all():
            e[~mask[b]] = float("-inf")
        alpha = torch.softmax(e, 0)
        torch.testing.assert_close(weights[b], alpha)
        torch.testing.assert_close(context[b], alpha @ h[b])
    assert weights[1, 2] == 0
    torch.testing.assert_close(att(s, h, mask, projected_keys=att.project_keys(h))[0], context)


# ---- Transformer layers vs torch.nn -------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_equals_torch(norm_first: bool, activation: str) -> None:
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(
        16, 4, 32, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first
    ).double()
    ours = TransformerLayer(16, 4, 32, 0.0, norm_first=norm_first, activation=activation).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    pad = torch.zeros(2, 6, dtype=torch.bool)
    pad[0, 4:] = True
    torch.testing.assert_close(ours(x, padding_mask=pad)[~pad], ref(x, src_key_padding_mask=pad)[~pad])
    causal = nn.Transformer.generate_square_subsequent_mask(6, dtype=torch.float64)
    torch.testing.assert_close(ours(x, causal=True), ref(x, src_mask=causal, is_causal=True))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_equals_torch(norm_first: bool) -> None:
    torch.manual_seed(0)
    ref = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first).double()
    ours = TransformerLayer(16, 4, 32, 0.0, norm_first=norm_first, cross_attention=True).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    y, mem = torch.randn(2, 5, 16, dtype=torch.float64), torch.randn(2, 7, 16, dtype=torch.float64)
    mem_pad = torch.zeros(2, 7, dtype=torch.bool)
    mem_pad[1, 5:] = True
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    expected = ref(y, mem, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=mem_pad)
    torch.testing.assert_close(ours(y, causal=True, memory=mem, memory_padding_mask=mem_pad), expected)
    kv = ours.multihead_attn.project_kv(mem)
    got = ours(y, causal=True, memory=mem, memory_padding_mask=mem_pad, memory_kv=kv)
    torch.testing.assert_close(got, expected)


def test_sinusoidal_positions_follow_the_formula() -> None:
    pe = sinusoidal_positions(50, 16)
    for pos in (0, 7, 49):
        for i in (0, 3, 7):
            angle = torch.tensor(pos / 10000 ** (2 * i / 16))
            torch.testing.assert_close(pe[pos, 2 * i], torch.sin(angle))
            torch.testing.assert_close(pe[pos, 2 * i + 1], torch.cos(angle))


# ---- the decoder-only model ---------------------------------------------------------------------


def _gpt(positions="learned", block=16, fused=True) -> DecoderOnlyTransformer:
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=11, block_size=block, n_layer=2, n_head=2, d_model=16, positions=positions, fused=fused
    )
    return DecoderOnlyTransformer(cfg).eval()


def test_config_rejects_heads_that_do_not_divide_the_width() -> None:
    with pytest.raises(ValueError, match="divisible by the number of heads"):
        TransformerConfig(vocab_size=5, block_size=8, d_model=30, n_head=4).validate()


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_decoder_is_causal_and_tied(positions: str) -> None:
    model = _gpt(positions)
    assert model.lm_head.weight is model.tok_emb.weight
    idx = torch.randint(0, 11, (2, 10), generator=torch.Generator().manual_seed(0))
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 11
    torch.testing.assert_close(model(idx)[:, :6], model(changed)[:, :6])
    assert not torch.allclose(model(idx)[:, 6:], model(changed)[:, 6:])


def test_fused_and_explicit_models_agree() -> None:
    a, b = _gpt(fused=True), _gpt(fused=False)
    b.load_state_dict(a.state_dict())
    idx = torch.randint(0, 11, (3, 12), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a(idx), b(idx), atol=1e-5, rtol=1e-5)


def test_cached_forward_equals_the_full_forward() -> None:
    model = _gpt()
    idx = torch.randint(0, 11, (2, 9), generator=torch.Generator().manual_seed(0))
    caches = model.new_caches()
    parts = [model(idx[:, :5], caches=caches)] + [
        model(idx[:, t : t + 1], caches=caches) for t in range(5, 9)
    ]
    torch.testing.assert_close(torch.cat(parts, 1), model(idx), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["greedy", "sample"])
def test_generation_with_the_cache_gives_the_same_tokens(mode: str) -> None:
    model = _gpt(block=16).double()
    prompt = torch.randint(0, 11, (3, 4), generator=torch.Generator().manual_seed(0))
    kwargs = {"greedy": True} if mode == "greedy" else {"temperature": 0.9, "top_k": 6}
    out = [
        model.generate(prompt, 30, use_cache=use, generator=torch.Generator().manual_seed(5), **kwargs)
        for use in (True, False)
    ]  # 34 tokens: the window slides past the block size of 16
    assert out[0].shape == (3, 34)
    assert torch.equal(out[0], out[1])


def test_sequence_longer_than_the_block_is_refused() -> None:
    with pytest.raises(ValueError, match="block_size"):
        _gpt(block=8)(torch.zeros(1, 9, dtype=torch.long))


def test_flops_per_token_counts_six_n() -> None:
    model = _gpt()
    n = model.num_parameters(non_embedding=True) + 11 * 16
    assert model.flops_per_token(context=16) == 6 * n + 12 * 2 * 16 * 16
