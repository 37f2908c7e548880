"""Multi-token prediction: the sequential per-head backward equals the plain one; greedy decoding
with caches equals recomputing; self-speculative decoding writes exactly the greedy tokens in
fewer passes; a quick run and bad settings."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.nn.multitoken import MultiTokenTransformer, greedy, speculative_greedy
from landmarks.nn.transformer import TransformerConfig


def _model(n: int, seed: int = 0) -> MultiTokenTransformer:
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=7, block_size=48, n_layer=3, n_head=2, d_model=16)
    return MultiTokenTransformer(cfg, n).eval()


def test_sequential_backward_equals_the_plain_backward():
    model = _model(4).train()
    twin = copy.deepcopy(model)
    idx, targets = torch.randint(0, 7, (3, 12)), torch.randint(0, 7, (3, 12))
    plain = model.losses(idx, targets)
    plain.sum().backward()
    sequential = twin.sequential_backward(idx, targets)
    assert torch.allclose(plain, sequential)
    for (name, a), b in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert b.grad is not None, name
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_head_i_is_scored_i_places_further_ahead():
    model = _model(3)
    idx = torch.randint(0, 7, (2, 10))
    targets = torch.randint(0, 7, (2, 10))
    z = model.trunk(idx, features=True)
    want = torch.nn.functional.cross_entropy(
        model.logits(z, 2)[:, :8].flatten(0, 1), targets[:, 2:].flatten()
    )
    assert torch.allclose(model.losses(idx, targets)[2], want)
    assert torch.equal(model(idx), model.logits(z, 0))


@pytest.mark.parametrize(("n", "seed"), [(2, 0), (4, 1), (4, 2), (6, 3)])
def test_speculative_decoding_writes_exactly_the_greedy_tokens(n: int, seed: int):
    model = _model(n, seed)
    prompt = torch.randint(0, 7, (1, 5), generator=torch.Generator().manual_seed(seed))
    reference = greedy(model, prompt, 40)
    recomputed = prompt
    for _ in range(40):
        recomputed = torch.cat([recomputed, model(recomputed)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(reference, recomputed)
    tokens, passes = speculative_greedy(model, prompt, 40)
    assert torch.equal(tokens, reference)
    assert 1 <= passes <= 41
    with pytest.raises(ValueError, match="block_size"):
        speculative_greedy(model, prompt, 60)


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "multi-token-prediction", "--quick", "--set", "n_future=1"]) == 2
    assert "n_future must be >= 2" in capsys.readouterr().err
    assert main(["run", "multi-token-prediction", "--quick", "--set", "prompt_length=24"]) == 2
    with pytest.raises(ValueError, match="n_future"):
        MultiTokenTransformer(
            TransformerConfig(vocab_size=7, block_size=8, n_layer=2, n_head=2, d_model=8), 0
        )


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("multi-token-prediction", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "multi-token-prediction" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert saved["metrics"]["decoding"]["tokens_differing_from_greedy"] == 0
    assert (tmp_path / "multi-token-prediction" / "multi_token.png").exists()
