"""Adapters: Parameter-Efficient Transfer Learning for NLP (Houlsby, Giurgiu, Jastrzębski,
Morrone, de Laroussilhe, Gesmundo, Attariyan, Gelly, 2019).

A small bottleneck network is inserted after each sub-layer's output projection, before the
residual addition (Fig. 2): h ← h + W_up f(W_down h), with W_down: d → m and W_up: m → d,
m ≪ d. W_up starts at zero, so the adapted model starts as the pretrained one (the paper
uses a near-identity initialization for the same reason). Only the adapters train, plus, as
in the paper, the layer norms: 2·m·d + m + d numbers per adapter.

``add_adapters(model, targets, bottleneck)`` wraps the modules whose names end with one of
``targets`` (for the shared Transformer: ``self_attn.out_proj`` and ``linear2``, the two
sub-layers' output projections) and freezes everything else but the layer norms.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from landmarks.nn.lora import wrap_linears

__all__ = ["AdaptedOutput", "Adapter", "add_adapters"]


class Adapter(nn.Module):
    """h + W_up GELU(W_down h); W_up zero-initialized, so it starts as the identity."""

    def __init__(self, width: int, bottleneck: int) -> None:
        super().__init__()
        if not 1 <= bottleneck <= width:
            raise ValueError(
                f"an adapter's bottleneck must be between 1 and the width {width}, got {bottleneck}"
            )
        self.down, self.up = nn.Linear(width, bottleneck), nn.Linear(bottleneck, width)
        self.act = nn.GELU()
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.up(self.act(self.down(h)))


class AdaptedOutput(nn.Module):
    """A frozen module followed by an adapter on its output."""

    def __init__(self, inner: nn.Linear, bottleneck: int) -> None:
        super().__init__()
        self.inner, self.adapter = inner, Adapter(inner.out_features, bottleneck)

    def forward(self, x: Tensor) -> Tensor:
        return self.adapter(self.inner(x))


def add_adapters(
    model: nn.Module, targets: Sequence[str], bottleneck: int, train_norms: bool = True
) -> list[str]:
    """Wrap, in place, every ``nn.Linear`` whose name ends with one of ``targets``; freeze the
    rest except (with ``train_norms``) the layer norms. Returns the wrapped modules' names."""
    for p in model.parameters():
        p.requires_grad_(False)
    if train_norms:
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                for p in m.parameters():
                    p.requires_grad_(True)
    return wrap_linears(model, targets, lambda linear: AdaptedOutput(linear, bottleneck))
