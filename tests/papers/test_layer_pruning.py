"""Layer pruning (Gromov et al., 2024): the angular distance, removing layers, healing with
QLoRA, the cached shared base, and the paper's run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.nn.lora import LoRALinear
from landmarks.nn.nf4 import NF4Linear
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig
from landmarks.papers.layer_pruning import PRESETS, angular_distances, heal, most_similar_block


def _model(layers: int = 4) -> DecoderOnlyTransformer:
    torch.manual_seed(0)
    return DecoderOnlyTransformer(
        TransformerConfig(vocab_size=11, block_size=16, n_layer=layers, n_head=2, d_model=16)
    ).eval()


def test_residual_stream_ends_in_the_logits():
    model = _model()
    idx = torch.randint(0, 11, (2, 9))
    stream = model.residual_stream(idx)
    assert len(stream) == 5 and all(h.shape == (2, 9, 16) for h in stream)
    torch.testing.assert_close(model.lm_head(model.norm_f(stream[-1])), model(idx))


def test_without_layers_skips_exactly_those_layers():
    model = _model()
    idx = torch.randint(0, 11, (2, 9))
    pruned = model.without_layers(1, 2)
    assert len(pruned.layers) == 2 and pruned.cfg.n_layer == 2 and len(model.layers) == 4
    x = model.residual_stream(idx)[0]
    for layer in (model.layers[0], model.layers[3]):
        x = layer(x, causal=True)
    torch.testing.assert_close(pruned(idx), model.lm_head(model.norm_f(x)))
    torch.testing.assert_close(model.without_layers(0, 0)(idx), model(idx))
    with pytest.raises(ValueError, match=r"cannot remove layers 3\.\.4 of a 4-layer model"):
        model.without_layers(3, 2)


def test_angular_distance_is_zero_for_layers_that_add_nothing():
    model = _model()
    with torch.no_grad():  # layers 1 and 2 write nothing into the residual stream
        for layer in model.layers[1:3]:
            for p in (*layer.self_attn.out_proj.parameters(), *layer.linear2.parameters()):
                p.zero_()
    d = angular_distances(model, torch.randint(0, 11, (5, 12)))
    assert d.shape == (4, 4)
    assert torch.isnan(d[3, 1:]).all() and not torch.isnan(d[3, 0])  # only ℓ = 0 has a block of 4
    assert float(d[1, 1]) == pytest.approx(0.0, abs=1e-6)  # x^1 = x^3
    assert float(d[0, 1]) == pytest.approx(0.0, abs=1e-6)
    assert most_similar_block(d, 2) == 1
    assert bool(((d[~torch.isnan(d)] >= 0) & (d[~torch.isnan(d)] <= 1)).all())


def test_angular_distance_of_opposite_vectors_is_one():
    model = _model(1)
    with torch.no_grad():
        model.layers[0].forward = lambda x, **kw: -x  # type: ignore[method-assign]
    d = angular_distances(model, torch.randint(0, 11, (3, 6)))
    assert float(d[0, 0]) == pytest.approx(1.0, abs=1e-6)


def test_healing_freezes_the_base_in_nf4_and_starts_where_the_quantized_model_is(tmp_path: Path):
    from landmarks.engine import Run

    cfg = PRESETS["quick"]
    run = Run(paper="layer-pruning", seed=0, device=torch.device("cpu"), out=tmp_path, show_progress=False)
    model = _model()
    untrained = heal(model, replace(cfg, heal_steps=0), run, torch.arange(500) % 11, "t")
    lora = [m for m in untrained.modules() if isinstance(m, LoRALinear)]
    assert len(lora) == 4 * 4 and all(isinstance(m.base, NF4Linear) for m in lora)
    assert all(not p.requires_grad for n, p in untrained.named_parameters() if "lora_" not in n)
    idx = torch.randint(0, 11, (2, 9))
    quantized_only = untrained(idx)
    with torch.no_grad():
        for m in lora:
            m.lora_B.weight.normal_()
    assert not torch.allclose(untrained(idx), quantized_only)  # LoRA B starts at 0: no change until trained


def test_shared_base_does_not_depend_on_the_paper_that_trains_it(tmp_path: Path):
    """layer-pruning and llm2vec share one cached base: whichever trains it first, the weights
    must be those the other would have trained."""
    from landmarks.data.text import encode_chars, text_split
    from landmarks.engine import Run
    from landmarks.engine.pretrained import BaseSpec, pretrained_lm

    data = encode_chars(text_split())
    spec = BaseSpec(n_layer=2, d_model=8, n_head=2, context=8, steps=3, batch=2)
    states = [
        pretrained_lm(
            Run(paper=paper, seed=1, device=torch.device("cpu"), out=tmp_path / paper, show_progress=False),
            spec,
            data,
            cache=False,
        ).state_dict()
        for paper in ("layer-pruning", "llm2vec")
    ]
    untrained = pretrained_lm(
        Run(paper="llm2vec", seed=1, device=torch.device("cpu"), out=tmp_path / "u", show_progress=False),
        BaseSpec(n_layer=2, d_model=8, n_head=2, context=8, steps=0, batch=2),
        data,
        cache=False,
    ).state_dict()
    for name, a in states[0].items():
        torch.testing.assert_close(a, states[1][name], rtol=0, atol=0)
    assert any(not torch.equal(a, untrained[name]) for name, a in states[0].items())  # it did train


def test_shared_base_is_cached_and_a_damaged_entry_is_retrained(tmp_path: Path, monkeypatch):
    from landmarks.data.text import encode_chars, text_split
    from landmarks.engine import Run
    from landmarks.engine.cache import cache_dir
    from landmarks.engine.pretrained import BaseSpec, pretrained_lm

    monkeypatch.setenv("LANDMARKS_CACHE", str(tmp_path / "cache"))
    data = encode_chars(text_split())
    spec = BaseSpec(n_layer=2, d_model=8, n_head=2, context=8, steps=2, batch=2)
    messages: list[str] = []

    def run() -> Run:
        r = Run(paper="layer-pruning", seed=0, device=torch.device("cpu"), out=tmp_path, show_progress=False)
        r.log = messages.append  # type: ignore[method-assign]
        return r

    first = pretrained_lm(run(), spec, data)
    second = pretrained_lm(run(), spec, data)
    assert any("loaded the cached weights" in m for m in messages)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    (entry,) = (cache_dir() / "char-lm-base").glob("*.pt")
    entry.write_bytes(b"damaged")
    pretrained_lm(run(), spec, data)
    assert any("checksum does not match" in m for m in messages)

    # the code that trains the base is part of the key: after an edit, the entry is not loaded
    import landmarks.engine.pretrained as pretrained

    messages.clear()
    pretrained_lm(run(), spec, data)
    assert any("loaded the cached weights" in m for m in messages)
    messages.clear()
    monkeypatch.setattr(pretrained, "code_fingerprint", lambda name: "edited")
    pretrained_lm(run(), spec, data)
    assert not any("loaded the cached weights" in m for m in messages)
    assert len(list((cache_dir() / "char-lm-base").glob("*.pt"))) == 2  # its own entry


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("curve=[4]", "cannot remove 4 layers of a 4-layer model"),
        ("fraction=1.5", "fraction must be between"),
    ],
)
def test_bad_settings_exit_2(setting: str, message: str, capsys: pytest.CaptureFixture[str]):
    assert main(["run", "layer-pruning", "--quick", "--set", setting]) == 2
    assert message in capsys.readouterr().err


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("layer-pruning", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "layer-pruning" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["metrics"]["distances"]) == 4
    assert (tmp_path / "layer-pruning" / "layer_pruning.png").exists()
