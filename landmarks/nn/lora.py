"""LoRA: Low-Rank Adaptation of Large Language Models (Hu, Shen, Wallis, Allen-Zhu, Li, Wang,
Wang, Chen, 2021).

Fine-tuning changes a pretrained weight W by some ΔW; LoRA bets that ΔW has low rank and
learns it as a product, leaving W frozen (Sec. 4.1, Eq. 3):

    h = W x + (α / r) · B A x,    A: (r, in), B: (out, r), r ≪ min(in, out)

A starts random (Kaiming-uniform, as ``nn.Linear``) and B at zero, so training starts from the
pretrained model exactly. Only A and B train: r · (in + out) numbers per layer instead of
in · out. For inference the product folds into the weight, W ← W + (α / r) B A (``merge``),
so the adapted model costs nothing extra; ``unmerge`` takes it out again.

``add_lora(model, targets, r, alpha)`` wraps every ``nn.Linear`` whose name ends with one of
``targets`` (peft's rule) and freezes everything else. ``save_peft_adapter`` writes the
adapter as Hugging Face ``peft`` does (``adapter_config.json`` + ``adapter_model.safetensors``),
so ``peft.PeftModel.from_pretrained(base, folder)`` loads it (tested).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from landmarks.files import atomic_write_bytes, atomic_write_text

__all__ = ["LoRALinear", "add_lora", "lora_parameters", "save_peft_adapter", "wrap_linears"]


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus the trainable low-rank update (α / r) · B A."""

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0) -> None:
        """``base``: an ``nn.Linear``, or an ``NF4Linear`` (4-bit, frozen): that is QLoRA."""
        super().__init__()
        if not 1 <= r <= min(base.in_features, base.out_features):
            raise ValueError(
                f"LoRA rank r must be between 1 and min(in, out) = "
                f"{min(base.in_features, base.out_features)} for this layer, got {r}"
            )
        self.base, self.r, self.alpha, self.scaling = base, r, alpha, alpha / r
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)  # ΔW = 0 at the start
        # drawn on the CPU (the same numbers whatever the device), then put beside the base weight
        weight = base.weight
        self.lora_A.to(weight.device, weight.dtype)
        self.lora_B.to(weight.device, weight.dtype)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def delta(self) -> Tensor:
        """ΔW = (α / r) B A, shaped like the base weight (out, in)."""
        return self.scaling * self.lora_B.weight @ self.lora_A.weight

    def forward(self, x: Tensor) -> Tensor:
        out = self.base(x)
        if self.merged:
            return out
        return out + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not isinstance(self.base, nn.Linear):
            raise ValueError("a 4-bit (NF4) base cannot absorb the update; keep the adapter separate")
        if not self.merged:
            self.base.weight += self.delta()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.base.weight -= self.delta()
            self.merged = False


def add_lora(
    model: nn.Module, targets: Sequence[str], r: int, alpha: float, dropout: float = 0.0
) -> list[str]:
    """Wrap, in place, every ``nn.Linear`` (or 4-bit ``NF4Linear``: QLoRA) whose qualified
    name ends with one of ``targets``; freeze all other parameters. Returns the wrapped names."""
    from landmarks.nn.nf4 import NF4Linear

    for p in model.parameters():
        p.requires_grad_(False)
    return wrap_linears(
        model, targets, lambda linear: LoRALinear(linear, r, alpha, dropout), kinds=(nn.Linear, NF4Linear)
    )


def wrap_linears(
    model: nn.Module,
    targets: Sequence[str],
    wrap: Callable[[nn.Module], nn.Module],
    kinds: tuple[type[nn.Module], ...] = (nn.Linear,),
) -> list[str]:
    """Replace, in place, every ``nn.Linear`` (or module of ``kinds``) whose qualified name is one
    of ``targets`` or ends with "." + one of them (peft's rule) by ``wrap(linear)``; returns the
    replaced names. The parameter-efficient methods (LoRA, adapters, NF4) share it."""
    names = [
        name
        for name, m in model.named_modules()
        if isinstance(m, kinds) and any(name == t or name.endswith("." + t) for t in targets)
    ]
    if not names:
        raise ValueError(f"no nn.Linear in the model is named by {list(targets)}")
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, wrap(getattr(parent, child)))
    return names


def lora_parameters(model: nn.Module) -> dict[str, Tensor]:
    """The adapter's tensors under peft's names: base_model.model.<module>.lora_A.weight, ..."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, LoRALinear):
            out[f"base_model.model.{name}.lora_A.weight"] = m.lora_A.weight.detach().contiguous()
            out[f"base_model.model.{name}.lora_B.weight"] = m.lora_B.weight.detach().contiguous()
    return out


def save_peft_adapter(model: nn.Module, folder: Path | str) -> None:
    """``adapter_config.json`` and ``adapter_model.safetensors`` in peft's layout, atomically."""
    try:
        from safetensors.torch import save
    except ImportError:
        raise ImportError(
            "saving a peft adapter needs safetensors: pip install safetensors (peft brings it)"
        ) from None

    wrapped = {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}
    if not wrapped:
        raise ValueError("the model has no LoRA layers to save")
    first = next(iter(wrapped.values()))
    if any(m.r != first.r or m.alpha != first.alpha for m in wrapped.values()):
        raise ValueError("peft's config holds one rank and alpha: every LoRA layer must share them")
    if any(m.merged for m in wrapped.values()):
        raise ValueError("unmerge the LoRA layers before saving the adapter")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "peft_type": "LORA",
        "r": first.r,
        "lora_alpha": first.alpha,
        "lora_dropout": float(first.dropout.p) if isinstance(first.dropout, nn.Dropout) else 0.0,
        "target_modules": sorted(wrapped),
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "task_type": None,
        "base_model_name_or_path": None,
    }
    atomic_write_text(folder / "adapter_config.json", json.dumps(config, indent=2))
    blob = save(lora_parameters(model))
    atomic_write_bytes(folder / "adapter_model.safetensors", lambda f: f.write(blob))
