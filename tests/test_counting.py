"""landmarks.nn.counting and landmarks.nn.interop: sizes, multiply-adds, exact state-dict loading."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from landmarks.nn.counting import count_macs, count_params
from landmarks.nn.interop import StateDictMismatch, load_exact, state_dict_mismatch


def _small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 5, padding=2, groups=8),  # depthwise
        nn.Conv2d(8, 16, 1, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 6 * 6, 10),
    )


def test_count_macs_by_hand_with_groups_and_strides():
    macs = count_macs(_small_net(), (2, 3, 12, 12))
    expected = 8 * 144 * 27 + 8 * 144 * 25 + 16 * 36 * 8 + 10 * 576
    assert macs == expected


def test_count_macs_agrees_with_torch_flop_counter():
    net, shape = _small_net(), (1, 3, 12, 12)
    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(shape))
    assert 2 * count_macs(net, shape) == counter.get_total_flops()


def test_count_macs_leaves_training_mode_alone_and_counts_per_example():
    net = _small_net().train()
    assert count_macs(net, (4, 3, 12, 12)) == count_macs(net, (1, 3, 12, 12))
    assert net.training


def test_count_params_trainable_only():
    net = nn.Linear(3, 2)
    net.bias.requires_grad_(False)
    assert count_params(net) == 8
    assert count_params(net, trainable_only=True) == 6


def test_load_exact_copies_and_names_every_mismatch():
    a, b = _small_net(), _small_net()
    load_exact(b, a.state_dict())
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    sd = dict(a.state_dict())
    del sd["0.weight"]
    sd["9.weight"] = torch.zeros(1)
    sd["5.bias"] = torch.zeros(3)
    message = state_dict_mismatch(b, sd)
    assert message is not None
    assert "missing keys: 0.weight" in message
    assert "unexpected keys: 9.weight" in message
    assert "mis-shaped: 5.bias (3,) (expected (10,))" in message
    with pytest.raises(StateDictMismatch, match="timm convnext"):
        load_exact(b, sd, "timm convnext")
    assert state_dict_mismatch(b, a.state_dict()) is None
