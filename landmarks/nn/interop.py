"""Loading another library's state dict into our modules, key for key, or saying what differs.

Our vision models name their parameters as torchvision and timm do, so their checkpoints load
as they are. ``load_exact`` copies every tensor and refuses anything less than a perfect fit:
a key missing, a key left over or a shape that differs would otherwise leave layers at their
random initialization without a word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["StateDictMismatch", "load_exact", "state_dict_mismatch", "timm_stages"]


class StateDictMismatch(ValueError):
    """A state dict that does not fit the model; the message names the keys."""


def state_dict_mismatch(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """None if ``state_dict`` fits ``model`` key for key and shape for shape, else what is wrong."""
    ours = model.state_dict()
    missing = [k for k in ours if k not in state_dict]
    extra = [k for k in state_dict if k not in ours]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} (expected {tuple(ours[k].shape)})"
        for k in ours
        if k in state_dict and tuple(state_dict[k].shape) != tuple(ours[k].shape)
    ]
    parts = []
    for what, keys in (("missing keys", missing), ("unexpected keys", extra), ("mis-shaped", shapes)):
        if keys:
            shown = ", ".join(keys[:8]) + (f", … ({len(keys)} in all)" if len(keys) > 8 else "")
            parts.append(f"{what}: {shown}")
    return "; ".join(parts) or None


def load_exact(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "state dict"
) -> nn.Module:
    """Copy every tensor of ``state_dict`` into ``model``; raise ``StateDictMismatch`` naming the
    missing, unexpected and mis-shaped keys if it does not fit exactly. Returns ``model``."""
    problem = state_dict_mismatch(model, state_dict)
    if problem:
        raise StateDictMismatch(f"{source} does not fit {type(model).__name__}: {problem}")
    model.load_state_dict(dict(state_dict), strict=True)
    return model


def timm_stages(
    state_dict: Mapping[str, torch.Tensor], width_key: str, model: str
) -> tuple[list[int], list[int]]:
    """Blocks per stage and each stage's width, read off a timm state dict whose blocks are keyed
    ``stages.{i}.blocks.{j}.``: the width is dim 0 of ``stages.{i}.blocks.0.{width_key}``.
    ``model`` names the architecture in the ValueError raised when the keys are not there."""
    depths, dims = [], []
    for i in range(len(state_dict)):
        blocks = {int(m.group(1)) for k in state_dict if (m := re.match(rf"stages\.{i}\.blocks\.(\d+)\.", k))}
        if not blocks:
            break
        depths.append(max(blocks) + 1)
        width = state_dict.get(f"stages.{i}.blocks.0.{width_key}")
        if width is None:
            raise ValueError(f"not a timm {model} state dict: no 'stages.{i}.blocks.0.{width_key}'")
        dims.append(width.shape[0])
    if not depths:
        raise ValueError(f"not a timm {model} state dict: no 'stages.<i>.blocks.<j>.' keys")
    return depths, dims
