"""Counting a model's size and cost: parameters and multiply-adds of one forward pass.

Papers quote cost as "FLOPs" but almost always mean multiply-adds (MACs): ResNet-50's
"3.8 × 10⁹ FLOPs", ConvNeXt-T's "4.5 GFLOPs" and AlexNet's 0.7 G are all multiply-adds of the
convolutions and the fully connected layers. ``count_macs`` counts exactly those, with forward
hooks, so every vision entry states its cost the same way; ``torch.utils.flop_counter`` counts
2 FLOPs per multiply-add of the same layers, and a test checks that the two agree.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["count_macs", "count_params"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared ones counted once, as ``model.parameters()`` yields them)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 224, 224)) -> int:
    """Multiply-adds of one forward pass per example, from every conv and linear layer.

    A conv output element costs (C_in / groups)·∏kernel multiply-adds, a linear output element
    ``in_features`` (a linear layer on channels-last feature maps, as ConvNeXt's pointwise
    convolutions are, counts once per position). Normalization, activations, pooling and the
    shortcut additions are not counted, as in the papers.
    """
    total = 0

    def conv_hook(m: nn.Module, _inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * int(torch.tensor(m.kernel_size).prod())

    def linear_hook(m: nn.Linear, _inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, _CONV):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros(input_shape, device=device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return total // input_shape[0]
