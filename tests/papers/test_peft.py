"""peft: the methods are built as the papers say (trainable counts, what is frozen, NF4 storage),
the texts are split by work, bad settings exit 2, and a quick run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.nn.nf4 import NF4Linear, quantize_linears, stored_bytes
from landmarks.papers import peft as pp


def _base() -> torch.nn.Module:
    torch.manual_seed(0)
    return pp.DecoderOnlyTransformer(pp.model_config(pp.PRESETS["default"], 70)).eval()


def test_each_method_trains_what_its_paper_trains():
    cfg, base = pp.PRESETS["default"], _base()
    total = base.num_parameters(non_embedding=False)
    g = torch.Generator().manual_seed(0)
    counts = {m: pp.trainable(pp.adapt(m, base, cfg, g)) for m in pp.METHODS}
    d, layers, r = cfg.d_model, cfg.n_layer, cfg.lora_r
    assert counts["full"] == total
    assert counts["lora"] == counts["qlora"] == layers * r * ((d + 3 * d) + (d + d))
    assert counts["lora"] / total < 0.02  # the claim's condition holds for the default
    b = cfg.adapter_bottleneck
    norms = (2 * layers + 1) * 2 * d
    assert counts["adapters"] == 2 * layers * (2 * d * b + b + d) + norms
    assert counts["prompt"] == cfg.prompt_tokens * d
    assert counts["prefix"] == cfg.prefix_tokens * layers * 2 * d
    h = 8
    with_mlp = pp.adapt("prefix", base, pp.Config(prefix_hidden=h), g)
    assert pp.trainable(with_mlp) == cfg.prefix_tokens * d + d * h + h + h * layers * 2 * d + layers * 2 * d
    x = torch.randint(0, 70, (2, pp.text_length(cfg)))
    for m in pp.METHODS:  # every method starts at (or, prefix, near) the pretrained model
        out = pp.adapt(m, base, cfg, g)(x)
        assert out.shape == (2, x.shape[1], 70)
        if m in ("full", "lora", "adapters"):
            assert torch.allclose(out, base(x), atol=1e-5)


def test_qlora_stores_the_base_in_about_four_bits():
    base = _base()
    base.unstack_in_proj()
    fp32 = stored_bytes(base)
    assert fp32 == 4 * base.num_parameters(non_embedding=False)
    names = quantize_linears(base, ["self_attn.in_proj", "self_attn.out_proj", "linear1", "linear2"])
    assert len(names) == 16 and all(isinstance(base.get_submodule(n), NF4Linear) for n in names)
    quantized = sum(base.get_submodule(n).weight_nf4.numel for n in names)
    rest = 4 * (pp.PRESETS["default"].d_model * (70 + 128) + 4 * (384 + 128 + 512 + 128) + 9 * 256)
    nf4 = stored_bytes(base)
    assert nf4 - rest == pytest.approx(quantized * 4.127 / 8, rel=0.01)
    assert fp32 / nf4 > 3.5


def test_texts_split_by_work():
    texts = pp.load_texts()
    poems_val = texts.vocab.decode(texts.poems_val)
    assert "A LOVER'S COMPLAINT" in poems_val and "THE SONNETS" not in poems_val
    assert "THE SONNETS" in texts.vocab.decode(texts.poems[:200])
    assert "THE SONNETS" not in texts.vocab.decode(texts.plays)
    assert len(texts.plays) > 20 * len(texts.poems)


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "peft", "--quick", "--set", "lora_r=0"]) == 2
    assert "lora_r must be between 1" in capsys.readouterr().err
    assert main(["run", "peft", "--quick", "--set", "prompt_tokens=40"]) == 2
    assert "prompt_tokens" in capsys.readouterr().err


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("peft", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "peft" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert set(saved["metrics"]["methods"]) == set(pp.METHODS)
    assert (tmp_path / "peft" / "methods.png").exists()


def test_cached_base_is_keyed_by_settings_data_and_code(tmp_path: Path, monkeypatch):
    """A cached base is loaded only for the settings, plays and code it was pre-trained with."""
    from dataclasses import replace

    from landmarks.engine import Run

    monkeypatch.setenv("LANDMARKS_CACHE", str(tmp_path / "cache"))
    cfg = replace(pp.PRESETS["quick"], pretrain_steps=2, cache_base=True)
    plays = torch.randint(0, 20, (500,), generator=torch.Generator().manual_seed(0))
    messages: list[str] = []

    def pretrain(ids: torch.Tensor) -> None:
        run = Run(paper="peft", seed=0, device=torch.device("cpu"), out=tmp_path, show_progress=False)
        run.log = messages.append  # type: ignore[method-assign]
        messages.clear()
        pp._pretrain(cfg, run, pp.model_config(cfg, 20), ids)

    pretrain(plays)
    pretrain(plays)
    assert any("loaded the cached weights" in m for m in messages)
    pretrain(plays.roll(1))  # other text
    assert not any("loaded the cached weights" in m for m in messages)
    monkeypatch.setattr(pp, "code_fingerprint", lambda name: "edited")  # other code
    pretrain(plays)
    assert not any("loaded the cached weights" in m for m in messages)
    assert len(list((tmp_path / "cache" / "peft-base").glob("*.pt"))) == 3
