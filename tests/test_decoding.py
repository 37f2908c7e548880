"""Greedy, sampling and beam search, on step functions whose answers are known."""

from __future__ import annotations

import itertools

import pytest
import torch

from landmarks.nn.decoding import (
    beam_search,
    filter_top_k,
    filter_top_p,
    greedy_search,
    length_penalty,
    reorder_state,
    sample_next,
)


def test_top_k_keeps_the_k_largest() -> None:
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    kept = torch.isfinite(filter_top_k(logits, 2))
    assert kept.tolist() == [[False, True, False, True, False]]
    assert torch.isfinite(filter_top_k(logits, 10)).all()


def test_top_p_keeps_the_nucleus() -> None:
    probs = torch.tensor([[0.5, 0.05, 0.3, 0.15]])
    kept = torch.isfinite(filter_top_p(probs.log(), 0.75))
    assert kept.tolist() == [[True, False, True, False]]  # 0.5 + 0.3 reach 0.75
    assert torch.isfinite(filter_top_p(probs.log(), 0.5)).sum() == 1  # the top token alone has 0.5
    assert torch.isfinite(filter_top_p(probs.log(), 1.0)).all()


def test_sampling_is_seeded_and_respects_filters() -> None:
    logits = torch.randn(64, 20, generator=torch.Generator().manual_seed(0))
    a = sample_next(logits, top_k=3, generator=torch.Generator().manual_seed(1))
    b = sample_next(logits, top_k=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    top3 = logits.topk(3, -1).indices
    assert (top3 == a[:, None]).any(-1).all()
    assert torch.equal(sample_next(logits, greedy=True), logits.argmax(-1))


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_temperature_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        sample_next(torch.zeros(1, 3), temperature=bad)


def test_low_temperature_approaches_greedy() -> None:
    logits = torch.randn(200, 10, generator=torch.Generator().manual_seed(0))
    cold = sample_next(logits, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(cold, logits.argmax(-1))


# ---- a tiny "language model" whose sequence probabilities we can enumerate -----------------------

V, EOS, BOS = 4, 0, 3  # tokens 0..3; BOS is 3 (also an ordinary token afterwards)


def _table(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.log_softmax(torch.randn(V, V, generator=g) * 2, -1)  # next-token log-probs by last token


def _markov_step(table: torch.Tensor):
    def step(tokens, state):
        return table[tokens], state

    return step


def _exhaustive_best(table: torch.Tensor, max_len: int, alpha: float) -> tuple[list[int], float]:
    """Every sequence that ends at its first EOS or at max_len, ranked as beam search ranks them."""
    best, best_score, best_raw = None, float("-inf"), 0.0
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(V), repeat=n):
            if EOS in seq[:-1] or (n < max_len and seq[-1] != EOS):
                continue
            raw, prev = 0.0, BOS
            for t in seq:
                raw += float(table[prev, t])
                prev = t
            score = raw / float(length_penalty(torch.tensor(n), alpha))
            if score > best_score:
                best, best_score, best_raw = list(seq), score, raw
    assert best is not None
    return best, best_raw


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_a_wide_enough_beam_finds_the_exact_best_sequence(seed: int, alpha: float) -> None:
    table, max_len = _table(seed), 4
    expected, raw = _exhaustive_best(table, max_len, alpha)
    # V^(max_len-1) beams hold every prefix, so the search is exhaustive
    tokens, lengths, scores = beam_search(
        _markov_step(table),
        None,
        1,
        bos=BOS,
        eos=EOS,
        max_len=max_len,
        beam_size=V ** (max_len - 1),
        alpha=alpha,
    )
    assert tokens[0, : lengths[0]].tolist() == expected
    assert scores[0].item() == pytest.approx(raw, abs=1e-5)


def test_beam_of_one_is_greedy() -> None:
    table = _table(3)
    batch_tables = table
    g_tokens, g_len = greedy_search(_markov_step(batch_tables), None, 2, bos=BOS, eos=EOS, max_len=6)
    b_tokens, b_len, _ = beam_search(
        _markov_step(batch_tables), None, 2, bos=BOS, eos=EOS, max_len=6, beam_size=1
    )
    assert torch.equal(g_len, b_len)
    for i in range(2):
        assert g_tokens[i, : g_len[i]].tolist() == b_tokens[i, : b_len[i]].tolist()


def test_beam_search_carries_per_input_state() -> None:
    """Two inputs with different tables (held in the state) get their own answers."""
    tables = torch.stack([_table(0), _table(1)])  # (B, V, V)

    def step(tokens, state):
        (t,) = state
        return t[torch.arange(t.shape[0]), tokens], state

    out, lengths, _ = beam_search(step, (tables,), 2, bos=BOS, eos=EOS, max_len=3, beam_size=V**2, alpha=0.0)
    for b in range(2):
        expected, _ = _exhaustive_best(tables[b], 3, 0.0)
        assert out[b, : lengths[b]].tolist() == expected


def test_reorder_state_walks_nested_containers() -> None:
    state = {"h": (torch.arange(3), [torch.arange(3) * 10]), "none": None}
    out = reorder_state(state, torch.tensor([2, 0]))
    assert out["h"][0].tolist() == [2, 0] and out["h"][1][0].tolist() == [20, 0] and out["none"] is None
    with pytest.raises(TypeError):
        reorder_state(object(), torch.tensor([0]))


def test_beam_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(_markov_step(_table(0)), None, 1, bos=BOS, eos=EOS, max_len=3, beam_size=0)


def test_reorder_state_keeps_named_tuples() -> None:
    from typing import NamedTuple

    class Memory(NamedTuple):
        keys: torch.Tensor
        valid: torch.Tensor

    state = Memory(torch.arange(6).view(3, 2), torch.tensor([True, False, True]))
    out = reorder_state(state, torch.tensor([2, 2, 0]))
    assert isinstance(out, Memory)
    assert out.keys.tolist() == [[4, 5], [4, 5], [0, 1]] and out.valid.tolist() == [True, True, True]
