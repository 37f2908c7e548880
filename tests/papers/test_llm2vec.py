"""LLM2Vec (BehnamGhader et al., 2024): bidirectional attention, MNTP, SimCSE, mean pooling, the
paraphrase retrieval set, and the paper's run."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.data.paraphrase import SYNONYMS, corpus_lines, retrieval_set, rewrite
from landmarks.nn.lora import LoRALinear
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig
from landmarks.papers.llm2vec import embed, mask_positions, merge_lora, mntp_loss, recall_at_1, simcse_loss


def _model() -> DecoderOnlyTransformer:
    torch.manual_seed(0)
    return DecoderOnlyTransformer(
        TransformerConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, d_model=16)
    ).eval()


def test_bidirectional_attention_sees_the_future_and_causal_does_not():
    model = _model()
    x = torch.randint(0, 11, (1, 8))
    y = x.clone()
    y[0, 6] = (y[0, 6] + 1) % 11
    causal = (model(x) - model(y)).abs().amax(-1)[0]
    both = (model(x, causal=False) - model(y, causal=False)).abs().amax(-1)[0]
    assert bool((causal[:6] == 0).all()) and bool((both[:6] > 0).all())
    torch.testing.assert_close(model(x, causal=True), model(x))
    with pytest.raises(ValueError, match="KV cache"):
        model(x, causal=False, caches=model.new_caches())


def test_mean_pooling_ignores_padding():
    model = _model()
    ids = torch.randint(0, 11, (1, 5))
    padded = torch.cat([ids, torch.randint(0, 11, (1, 3))], dim=1)
    pad = torch.tensor([[False] * 5 + [True] * 3])
    for causal in (True, False):
        torch.testing.assert_close(
            embed(model, padded, pad, causal=causal),
            embed(model, ids, torch.zeros_like(ids, dtype=torch.bool), causal=causal),
        )


def test_mntp_reads_the_masked_token_from_the_position_before():
    model = _model()
    x = torch.randint(1, 11, (2, 10))
    masked = mask_positions(x.shape, 0.5, torch.Generator().manual_seed(0))
    assert not bool(masked[:, 0].any()) and bool(masked.any())
    logits = model(x.masked_fill(masked, 0), causal=False)
    where = masked[:, 1:]
    expected = torch.nn.functional.cross_entropy(logits[:, :-1][where], x[:, 1:][where])
    torch.testing.assert_close(mntp_loss(model, x, masked, 0), expected)


def test_simcse_loss_is_low_when_views_agree_and_negatives_differ():
    model = _model()
    ids = torch.arange(4 * 6).reshape(4, 6) % 11
    pad = torch.zeros_like(ids, dtype=torch.bool)
    loss = simcse_loss(model, ids, pad, temperature=0.05)  # no dropout: the two views are equal
    assert loss.item() < float(torch.log(torch.tensor(4.0)))


def test_merge_lora_keeps_the_function_and_removes_the_wrappers():
    from landmarks.nn.lora import add_lora

    model = _model()
    model.unstack_in_proj()
    add_lora(model, ["self_attn.in_proj", "linear1"], 2, 4.0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.weight.normal_()
    x = torch.randint(0, 11, (2, 7))
    before = model(x)
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    torch.testing.assert_close(model(x), before)


def test_recall_is_one_when_queries_are_the_documents():
    model = _model()
    ids = torch.randint(0, 11, (6, 9))
    pad = torch.zeros_like(ids, dtype=torch.bool)
    assert recall_at_1(model, (ids, pad), (ids, pad), causal=False) == 1.0


def test_rewrites_are_deterministic_and_keep_most_of_the_line():
    line = "Thou art more lovely and more temperate, my good lord"
    a = rewrite(line, random.Random(3))
    assert a == rewrite(line, random.Random(3))
    assert len(a.split()) >= len(line.split()) // 2
    swapped = rewrite(line, random.Random(0), drop=0.0, swap=1.0, reorder=0.0)
    assert swapped == "You are more fair and more temperate, my fine master"
    assert all(SYNONYMS[SYNONYMS[w]] in (w, SYNONYMS[SYNONYMS[w]]) for w in SYNONYMS)
    text = "one two three four five six\nshort line\none two three four five six\n"
    assert corpus_lines(text) == ["one two three four five six"]
    task = retrieval_set("\n".join(f"line {i} of the text here now" for i in range(50)), 10, seed=1)
    assert len(task.documents) == len(set(task.documents)) == 10
    assert task == retrieval_set("\n".join(f"line {i} of the text here now" for i in range(50)), 10, seed=1)
    with pytest.raises(ValueError, match="usable lines"):
        retrieval_set("too short", 3, seed=0)


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "llm2vec", "--quick", "--set", "mask_fraction=1.5"]) == 2
    assert "mask_fraction must be between" in capsys.readouterr().err
    assert main(["run", "llm2vec", "--quick", "--set", "mntp_length=500"]) == 2


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("llm2vec", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "llm2vec" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert set(saved["metrics"]["recall_at_1"]) == {
        "causal",
        "bidirectional",
        "bidirectional_mntp",
        "llm2vec",
    }
    assert (tmp_path / "llm2vec" / "llm2vec.png").exists()
