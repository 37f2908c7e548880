"""LoRA: starts as the base model, equals peft's LoRA with copied A and B, merges and unmerges
exactly, exports an adapter peft loads with identical outputs, and refuses bad ranks."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from landmarks.nn.lora import LoRALinear, add_lora, save_peft_adapter
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig

TARGETS = ["linear1", "linear2"]


def _base() -> DecoderOnlyTransformer:
    torch.manual_seed(0)
    return DecoderOnlyTransformer(
        TransformerConfig(vocab_size=17, block_size=8, n_layer=2, n_head=2, d_model=16)
    ).eval()


def _adapted(base: DecoderOnlyTransformer) -> DecoderOnlyTransformer:
    model = copy.deepcopy(base)
    add_lora(model, TARGETS, r=4, alpha=8)
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, LoRALinear):
            torch.nn.init.normal_(m.lora_B.weight, std=0.1)  # as if trained
    return model


def test_starts_as_the_base_and_trains_only_the_adapter():
    base = _base()
    model = copy.deepcopy(base)
    names = add_lora(model, TARGETS, r=4, alpha=8)
    assert names == ["layers.0.linear1", "layers.0.linear2", "layers.1.linear1", "layers.1.linear2"]
    x = torch.randint(0, 17, (2, 8))
    assert torch.equal(model(x), base(x))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)


def test_merge_and_unmerge_give_the_same_outputs():
    model = _adapted(_base())
    x = torch.randint(0, 17, (2, 8))
    before = model(x)
    weights = [m.base.weight.clone() for m in model.modules() if isinstance(m, LoRALinear)]
    for m in model.modules():
        if isinstance(m, LoRALinear):
            m.merge()
    assert torch.allclose(model(x), before, atol=1e-5)
    for m in model.modules():
        if isinstance(m, LoRALinear):
            m.unmerge()
    after = [m.base.weight for m in model.modules() if isinstance(m, LoRALinear)]
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(after, weights, strict=True))


def test_equals_peft_and_exports_an_adapter_peft_loads(tmp_path: Path):
    peft = pytest.importorskip("peft")
    base = _base()
    ours = _adapted(base)
    theirs = peft.get_peft_model(
        copy.deepcopy(base), peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS)
    )
    with torch.no_grad():
        for name, m in ours.named_modules():
            if isinstance(m, LoRALinear):
                layer = theirs.base_model.model.get_submodule(name)
                layer.lora_A["default"].weight.copy_(m.lora_A.weight)
                layer.lora_B["default"].weight.copy_(m.lora_B.weight)
    x = torch.randint(0, 17, (3, 8))
    assert torch.allclose(ours(x), theirs(x), atol=1e-6)
    save_peft_adapter(ours, tmp_path / "adapter")
    loaded = peft.PeftModel.from_pretrained(copy.deepcopy(base), str(tmp_path / "adapter")).eval()
    assert torch.allclose(ours(x), loaded(x), atol=1e-6)


def test_bad_ranks_and_targets_are_refused():
    with pytest.raises(ValueError, match="rank r must be between 1 and min"):
        add_lora(_base(), TARGETS, r=0, alpha=1)
    with pytest.raises(ValueError, match="rank r must be between 1 and min"):
        add_lora(_base(), TARGETS, r=17, alpha=1)
    with pytest.raises(ValueError, match=r"no nn\.Linear"):
        add_lora(_base(), ["nothing"], r=2, alpha=1)


def test_adapter_lives_beside_its_base_weight_with_the_same_numbers():
    """Wrapping a model already moved to a device (or cast) puts A and B there too: LoRA is
    added after the base is trained, on whatever device it trained on. A is drawn on the CPU,
    so the adapter starts from the same numbers on every device."""
    torch.manual_seed(0)
    on_cpu = LoRALinear(torch.nn.Linear(8, 6), r=2, alpha=4.0)
    torch.manual_seed(0)
    base = torch.nn.Linear(8, 6).double()
    moved = LoRALinear(base, r=2, alpha=4.0)
    assert moved.lora_A.weight.dtype == moved.lora_B.weight.dtype == torch.float64
    torch.testing.assert_close(moved.lora_A.weight.float(), on_cpu.lora_A.weight)
    meta = LoRALinear(torch.nn.Linear(8, 6, device="meta"), r=2, alpha=4.0)
    assert meta.lora_A.weight.is_meta and meta.lora_B.weight.is_meta
