"""metrics: the sliding-window perplexity scores every token once, with the context the stride
promises; BLEU's worked examples; a quick run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from landmarks.cli import main
from landmarks.metrics.perplexity import perplexity, sliding_window_nll
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig
from landmarks.papers import metrics as paper


@pytest.fixture(scope="module")
def model() -> DecoderOnlyTransformer:
    torch.manual_seed(0)
    return DecoderOnlyTransformer(
        TransformerConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, d_model=16)
    ).eval()


@pytest.mark.parametrize("stride", [1, 3, 7])
def test_every_token_is_scored_once_with_the_promised_context(model, stride):
    ids = torch.randint(0, 11, (50,), generator=torch.Generator().manual_seed(1))
    total, count = sliding_window_nll(model, ids, window=8, stride=stride)
    assert count == 49
    # Brute force: token p scored once, with the context of the window that first reaches it.
    expected, scored_until = 0.0, 0
    starts = [*range(0, 50 - 8 + 1, stride)]
    if starts[-1] + 8 < 50:
        starts.append(42)
    for s in starts:
        with torch.no_grad():
            lp = F.log_softmax(model(ids[None, s : s + 7]), -1)[0]
        for p in range(max(scored_until + 1, s + 1), s + 8):
            expected -= float(lp[p - s - 1, ids[p]])
        scored_until = s + 7
    assert total == pytest.approx(expected, rel=1e-5)


def test_stride_one_gives_each_token_the_full_window(model):
    ids = torch.randint(0, 11, (30,), generator=torch.Generator().manual_seed(2))
    total, _ = sliding_window_nll(model, ids, window=8, stride=1)
    with torch.no_grad():
        first = F.log_softmax(model(ids[None, :7]), -1)[0]
        expected = -sum(float(first[j, ids[j + 1]]) for j in range(7))
        for p in range(8, 30):  # the 7 tokens before p are its context
            expected -= float(F.log_softmax(model(ids[None, p - 7 : p]), -1)[0, -1, ids[p]])
    assert total == pytest.approx(expected, rel=1e-5)
    assert perplexity(model, ids, 8, 1) == pytest.approx(float(torch.tensor(expected / 29).exp()), rel=1e-5)
    with pytest.raises(ValueError, match="stride"):
        sliding_window_nll(model, ids, 8, 8)


def test_papineni_examples():
    from landmarks.metrics import corpus_bleu, corpus_bleu_tokens

    refs = [[r] for r in paper.EXAMPLE_1["references"]]
    better, worse = (corpus_bleu([c], refs).score for c in paper.EXAMPLE_1["candidates"])
    assert better > worse
    stats = corpus_bleu_tokens([paper.EXAMPLE_2["candidate"]], [[r] for r in paper.EXAMPLE_2["references"]])
    assert (stats.counts[0], stats.totals[0]) == (2, 7)


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("metrics", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "metrics" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert (tmp_path / "metrics" / "perplexity_by_stride.png").exists()


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "metrics", "--quick", "--set", "strides=8,4"]) == 2
    assert "include 1" in capsys.readouterr().err
