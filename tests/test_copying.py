"""The copying task puts <bos> s <copy> s in each row and scores the copy only; string accuracy
is exact match; the transformer's NoPE and hard per-head windows behave as stated."""

from __future__ import annotations

import pytest
import torch

from landmarks.data.copying import IGNORE, CopyTask, string_accuracy
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig


def test_rows_hold_the_string_twice_and_score_only_the_copy():
    task = CopyTask(1, 6, 5)
    x, y = task.sample(50, torch.Generator().manual_seed(0))
    assert x.shape == (50, task.sequence_length) and (x[:, 0] == task.bos).all()
    for row_x, row_y in zip(x.tolist(), y.tolist(), strict=True):
        k = row_x.index(task.copy)
        s = row_x[1:k]
        assert 1 <= len(s) <= 6 and all(0 <= c < 5 for c in s)
        scored = [t for t in row_y if t != IGNORE]
        assert scored == s  # the targets are the string, once
        assert row_x[k + 1 : k + len(s)] == s[:-1]  # teacher forcing: the copy so far
    again = task.sample(50, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], x)
    with pytest.raises(ValueError):
        CopyTask(3, 2)


def test_string_accuracy_is_exact_match():
    y = torch.tensor([[IGNORE, 1, 2], [IGNORE, 0, IGNORE]])
    logits = torch.nn.functional.one_hot(torch.tensor([[3, 1, 2], [0, 1, 1]]), 4).float()
    assert string_accuracy(logits, y).tolist() == [1.0, 0.0]


def test_nope_and_hard_windows():
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=11, block_size=32, n_layer=2, n_head=2, d_model=16, positions="none", head_windows=(1, 1)
    )
    model = DecoderOnlyTransformer(cfg).eval()
    x = torch.randint(0, 11, (2, 10))
    out = model(x)
    # a window of 1: every position sees only itself, so its output depends on its own token only
    y = x.clone()
    y[:, :5] = (y[:, :5] + 1) % 11
    assert torch.allclose(model(y)[:, 5:], out[:, 5:], atol=1e-5)
    assert model.num_parameters(non_embedding=False) == model.num_parameters(non_embedding=True) + 11 * 16
    wide = DecoderOnlyTransformer(
        cfg.__class__(**{**cfg.__dict__, "head_windows": (0, 3), "fused": False})
    ).eval()
    wide.load_state_dict(
        DecoderOnlyTransformer(cfg.__class__(**{**cfg.__dict__, "head_windows": (0, 3)})).state_dict()
    )
    fused = DecoderOnlyTransformer(cfg.__class__(**{**cfg.__dict__, "head_windows": (0, 3)})).eval()
    fused.load_state_dict(wide.state_dict())
    assert torch.allclose(wide(x), fused(x), atol=1e-5)
    tokens = wide.generate(x[:, :3], 6, greedy=True)  # the cache and the windows agree
    assert torch.equal(tokens, wide.generate(x[:, :3], 6, greedy=True, use_cache=False))
    with pytest.raises(ValueError, match="head_windows"):
        TransformerConfig(vocab_size=11, block_size=8, n_head=2, d_model=16, head_windows=(1,)).validate()


def test_ngram_lookup_copies_fails_exactly_on_ambiguous_ngrams():
    from landmarks.data.copying import ngram_lookup_copies

    task = CopyTask(1, 6, 4)

    def row(letters: list[int]) -> list[int]:
        r = [task.bos, *letters, task.copy, *letters]
        return (r + [task.pad] * task.sequence_length)[: task.sequence_length]

    x = torch.tensor([row([0, 1, 2, 3]), row([0, 1, 0, 2]), row([0, 1, 2, 0, 1, 3]), row([1, 1])])
    assert ngram_lookup_copies(x, task, 1).tolist() == [1.0, 0.0, 0.0, 1.0]  # 0 then 1, later 0 then 2
    assert ngram_lookup_copies(x, task, 2).tolist() == [1.0, 1.0, 0.0, 1.0]  # (0, 1) then 2, later 3
    assert ngram_lookup_copies(x, task, 3).tolist() == [1.0, 1.0, 1.0, 1.0]
