"""Prompt and prefix tuning, and the transformer's hooks for them: a soft prompt made of real
token embeddings equals feeding those tokens; a prefix of keys and values equals a KV cache
holding them; only the new vectors train; the unstacked W^Q; W^K; W^V give the same outputs and
let LoRA reach them, in a form peft loads."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from landmarks.nn.attention import KVCache, MultiHeadAttention
from landmarks.nn.lora import add_lora, save_peft_adapter
from landmarks.nn.prompts import PrefixTuning, PromptTuning
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig


def _model(**kw) -> DecoderOnlyTransformer:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return DecoderOnlyTransformer(
        TransformerConfig(vocab_size=17, block_size=12, n_layer=2, n_head=2, d_model=16, **kw)
    ).eval()


def test_unstacked_in_proj_gives_the_same_outputs_and_reaches_lora():
    model = _model()
    x = torch.randint(0, 17, (3, 9))
    before = model(x)
    model.unstack_in_proj()
    assert "layers.0.self_attn.in_proj.weight" in model.state_dict()
    assert "layers.0.self_attn.in_proj_weight" not in model.state_dict()
    assert torch.allclose(model(x), before, atol=1e-6)
    names = add_lora(model, ["self_attn.in_proj"], r=2, alpha=4)
    assert names == ["layers.0.self_attn.in_proj", "layers.1.self_attn.in_proj"]
    assert torch.allclose(model(x), before, atol=1e-6)  # B = 0


def test_unstacked_cross_attention_paths_agree():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2)
    q, mem = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    want = mha(q, mem, mem)[0]
    kv = mha.project_kv(mem)
    mha.unstack_in_proj()
    assert torch.allclose(mha(q, mem, mem)[0], want, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(mha.project_kv(mem), kv, strict=True))
    assert torch.allclose(mha(q, mem, mem, static_kv=mha.project_kv(mem))[0], want, atol=1e-6)


def test_prefix_keys_and_values_equal_a_cache_holding_them():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2).eval()
    x = torch.randn(2, 4, 8)
    pk, pv = torch.randn(2, 3, 4), torch.randn(2, 3, 4)  # (h, P, d_k)
    cache = KVCache(16)
    cache.append(pk.expand(2, -1, -1, -1), pv.expand(2, -1, -1, -1))
    want = mha(x, x, x, causal=True, cache=cache)[0]
    got = mha(x, x, x, causal=True, prefix_kv=(pk, pv))[0]
    assert torch.allclose(got, want, atol=1e-6)
    explicit = MultiHeadAttention(8, 2, fused=False).eval()
    explicit.load_state_dict(mha.state_dict())
    assert torch.allclose(explicit(x, x, x, causal=True, prefix_kv=(pk, pv))[0], want, atol=1e-6)
    padding = torch.tensor([[False, False, False, True], [False] * 4])  # padding masks only the text
    out = mha(x, x, x, padding, causal=True, prefix_kv=(pk, pv))[0]
    assert torch.allclose(out[1], got[1], atol=1e-6)
    with pytest.raises(ValueError, match="attn_mask"):
        mha(x, x, x, attn_mask=torch.zeros(4, 7, dtype=torch.bool), prefix_kv=(pk, pv))


def test_a_prompt_of_token_embeddings_equals_feeding_the_tokens():
    model = _model()
    prompt_ids, x = torch.tensor([3, 1, 4]), torch.randint(0, 17, (2, 6))
    full = model(torch.cat([prompt_ids.expand(2, -1), x], dim=1))[:, 3:]
    got = model(x, prompt=model.tok_emb.weight[prompt_ids])
    assert got.shape == (2, 6, 17) and torch.allclose(got, full, atol=1e-5)


def test_prompt_tuning_trains_only_the_prompt():
    model = _model()
    tuned = PromptTuning(model, 4, torch.Generator().manual_seed(0))
    assert [n for n, p in tuned.named_parameters() if p.requires_grad] == ["prompt"]
    assert tuned.prompt.shape == (4, 16)
    rows = tuned.prompt.detach()[:, None] == model.tok_emb.weight[None]  # starts as vocabulary rows
    assert rows.all(-1).any(-1).all()
    x = torch.randint(0, 17, (2, 8))
    tuned(x).sum().backward()
    assert tuned.prompt.grad is not None and tuned.prompt.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="block_size"):
        PromptTuning(_model(), 12)


@pytest.mark.parametrize("hidden", [0, 8])
def test_prefix_tuning_trains_only_the_prefix_and_freezes_into_a_table(hidden: int):
    model = _model()
    torch.manual_seed(1)
    tuned = PrefixTuning(model, 3, hidden)
    x = torch.randint(0, 17, (2, 8))
    out = tuned(x)
    assert out.shape == (2, 8, 17)
    assert not torch.allclose(out, model(x), atol=1e-4)  # the prefix changes what is attended
    out.sum().backward()
    trained = {n for n, p in tuned.named_parameters() if p.requires_grad}
    assert trained and all(not n.startswith("model.") for n in trained)
    assert all(p.grad is not None for n, p in tuned.named_parameters() if n in trained)
    kv = tuned.prefix_kv()
    assert len(kv) == 2 and kv[0][0].shape == (2, 3, 8)
    with torch.no_grad():
        before = tuned(x)
        tuned.freeze()
        assert [n for n, p in tuned.named_parameters() if p.requires_grad] == ["prefix"]
        assert torch.allclose(tuned(x), before, atol=1e-6)
        assert tuned.prefix.numel() == 3 * 2 * 2 * 16


def test_lora_on_the_query_key_value_projection_exports_to_peft(tmp_path: Path):
    peft = pytest.importorskip("peft")
    base = _model()
    base.unstack_in_proj()
    ours = copy.deepcopy(base)
    add_lora(ours, ["self_attn.in_proj", "self_attn.out_proj"], r=2, alpha=4)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.1)
    save_peft_adapter(ours, tmp_path / "adapter")
    loaded = peft.PeftModel.from_pretrained(copy.deepcopy(base), str(tmp_path / "adapter")).eval()
    x = torch.randint(0, 17, (3, 8))
    assert not torch.allclose(ours(x), base(x), atol=1e-4)
    assert torch.allclose(ours(x), loaded(x), atol=1e-6)
