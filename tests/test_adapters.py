"""Adapters: the adapted model starts as the base, only adapters and layer norms train, the
count per adapter is 2·m·d + m + d, and a bottleneck wider than the layer is refused."""

from __future__ import annotations

import copy

import pytest
import torch

from landmarks.nn.adapters import Adapter, add_adapters
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig


def _base() -> DecoderOnlyTransformer:
    torch.manual_seed(0)
    return DecoderOnlyTransformer(
        TransformerConfig(vocab_size=17, block_size=8, n_layer=2, n_head=2, d_model=16)
    ).eval()


def test_starts_as_the_base_and_trains_adapters_and_norms_only():
    base = _base()
    model = copy.deepcopy(base)
    names = add_adapters(model, ["self_attn.out_proj", "linear2"], bottleneck=4)
    assert names == [
        "layers.0.self_attn.out_proj",
        "layers.0.linear2",
        "layers.1.self_attn.out_proj",
        "layers.1.linear2",
    ]
    x = torch.randint(0, 17, (2, 8))
    assert torch.equal(model(x), base(x))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".adapter." in n or "norm" in n for n in trainable)
    adapter_numbers = sum(p.numel() for n, p in model.named_parameters() if ".adapter." in n)
    assert adapter_numbers == 4 * (2 * 4 * 16 + 4 + 16)
    model.train()
    model(x).square().mean().backward()  # W_up learns first (W_down's gradient passes through W_up = 0)
    assert all(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if ".adapter.up.weight" in n)


def test_bad_bottlenecks_and_targets_are_refused():
    with pytest.raises(ValueError, match="bottleneck must be between 1 and the width 16"):
        Adapter(16, 17)
    with pytest.raises(ValueError, match=r"no nn\.Linear"):
        add_adapters(_base(), ["nothing"], bottleneck=2)
