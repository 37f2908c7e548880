"""NF4: the 16 levels equal the published table, codes are the nearest levels, two codes pack
per byte, double quantization keeps the block scales close, the storage is about 4.1 bits
per weight, and QLoRA (LoRA over an NF4 base) runs and trains only the adapter."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landmarks.nn.lora import LoRALinear
from landmarks.nn.nf4 import NF4Linear, NF4Tensor, nf4_levels

# QLoRA (Dettmers et al., 2023), Appendix E, as bitsandbytes ships it.
PUBLISHED = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0,
]  # fmt: skip


def test_levels_equal_the_published_table():
    assert torch.allclose(nf4_levels(), torch.tensor(PUBLISHED), atol=1e-6)


def test_codes_are_the_nearest_levels_and_pack_two_per_byte():
    torch.manual_seed(0)
    w = torch.randn(7, 19)  # 133 values: a partial block and an odd count
    q = NF4Tensor(w, block=64, block2=2)
    back = q.dequantize()
    assert back.shape == w.shape and q.packed.numel() == 96  # 3 blocks of 64 codes, 2 per byte
    levels = nf4_levels()
    flat = torch.nn.functional.pad(w.flatten(), (0, 192 - 133)).view(3, 64)
    exact = flat.abs().amax(1)
    assert torch.allclose(q.absmax(), exact, rtol=1e-2)  # the 8-bit double quantization of the scales
    normalized = flat / exact[:, None]
    nearest = levels[(normalized[..., None] - levels).abs().argmin(-1)]
    assert torch.allclose(back.flatten(), (nearest * q.absmax()[:, None]).flatten()[:133], atol=1e-6)


def test_storage_is_about_four_bits_per_weight():
    linear = nn.Linear(512, 512)
    q = NF4Linear(linear)
    bits = 8 * q.weight_nf4.nbytes() / linear.weight.numel()
    assert 4.0 < bits < 4.2
    assert 4 * linear.weight.numel() / q.weight_nf4.nbytes() >= 3.5


def test_qlora_runs_on_a_4bit_base_and_trains_only_the_adapter():
    torch.manual_seed(0)
    linear = nn.Linear(32, 16)
    layer = LoRALinear(NF4Linear(linear), r=4, alpha=8)
    x = torch.randn(5, 32)
    assert torch.allclose(layer(x), torch.nn.functional.linear(x, layer.base.weight, linear.bias), atol=1e-6)
    error = (layer(x) - linear(x)).norm() / linear(x).norm()
    assert 0 < error < 0.15  # 4 bits: close, not equal
    layer(x).square().sum().backward()
    assert {n for n, p in layer.named_parameters() if p.requires_grad} == {"lora_A.weight", "lora_B.weight"}
    with pytest.raises(ValueError, match="4-bit"):
        layer.merge()
