"""lstm: the cells equal torch.nn (outputs, states, gradients), the task data is deterministic,
and a quick reproduction runs end to end."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from landmarks.papers import lstm

ATOL = 1e-5
PAIRS = [(lstm.RNN, nn.RNN), (lstm.LSTM, nn.LSTM), (lstm.GRU, nn.GRU)]
CELL_PAIRS = [(lstm.RNNCell, nn.RNNCell), (lstm.LSTMCell, nn.LSTMCell), (lstm.GRUCell, nn.GRUCell)]


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _grads(tensors):
    return [t.grad.clone() for t in tensors]


def _run_and_backward(module, x, state, probes):
    """Forward (``module`` may be any callable of (x, state)), then backpropagate a random linear
    function of the output and final states."""
    output, final = module(x, state) if state is not None else module(x)
    final = _as_tuple(final)
    loss = (output * probes[0]).sum() + sum((f * p).sum() for f, p in zip(final, probes[1:]))
    loss.backward()
    return output.detach(), [f.detach() for f in final]


def _assert_same(results, grads):
    """Ours (second) equals the reference (first): outputs, final states and gradients."""
    (ref_out, ref_final), (out, final) = results
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
    for a, b in zip(final, ref_final, strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    for a, b in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize("ours_cls, ref_cls", PAIRS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_stack_matches_torch(ours_cls, ref_cls, batch_first, with_state, fused):
    torch.manual_seed(0)
    ref = ref_cls(5, 6, num_layers=2, batch_first=batch_first)
    ours = ours_cls(5, 6, num_layers=2, batch_first=batch_first, fused=fused)
    ours.load_state_dict(ref.state_dict(), strict=True)  # torch's names and shapes, unchanged

    T, B = 7, 3
    x = torch.randn((B, T, 5) if batch_first else (T, B, 5))
    n_state = 2 if ref_cls is nn.LSTM else 1
    state = tuple(torch.randn(2, B, 6) for _ in range(n_state)) if with_state else None
    probes = [torch.randn((*x.shape[:-1], 6)), *(torch.randn(2, B, 6) for _ in range(n_state))]

    results, grads = [], []
    for module in (ref, ours):
        xi = x.clone().requires_grad_()
        si = tuple(s.clone().requires_grad_() for s in state) if state is not None else None
        si_arg = (si if n_state == 2 else si[0]) if si is not None else None
        results.append(_run_and_backward(module, xi, si_arg, probes))
        grads.append([xi.grad, *(s.grad for s in si or ())] + [p.grad for p in module.parameters()])

    _assert_same(results, grads)


@pytest.mark.parametrize("ours_cls, ref_cls", PAIRS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_padded_batch_with_lengths_matches_torchs_packed_sequence(ours_cls, ref_cls, batch_first, fused):
    """``lengths=`` runs each sequence for its own length, as torch does on a PackedSequence:
    outputs zero past the end, the final state after the last element, the same gradients."""
    torch.manual_seed(0)
    ref = ref_cls(5, 6, num_layers=2, batch_first=batch_first)
    ours = ours_cls(5, 6, num_layers=2, batch_first=batch_first, fused=fused)
    ours.load_state_dict(ref.state_dict(), strict=True)
    T, B = 7, 4
    lengths = torch.tensor([3, 7, 1, 5])  # unsorted, one full, one of a single step
    x = torch.randn((B, T, 5) if batch_first else (T, B, 5))
    n_state = 2 if ref_cls is nn.LSTM else 1
    state = tuple(torch.randn(2, B, 6) for _ in range(n_state))
    probes = [torch.randn((*x.shape[:-1], 6)), *(torch.randn(2, B, 6) for _ in range(n_state))]

    def run_ref(xi, si):
        packed = nn.utils.rnn.pack_padded_sequence(xi, lengths, batch_first=batch_first, enforce_sorted=False)
        out, final = ref(packed, si)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first, total_length=T)
        return out, final

    results, grads = [], []
    for module, call in ((ref, run_ref), (ours, lambda xi, si: ours(xi, si, lengths=lengths))):
        xi = x.clone().requires_grad_()
        si = tuple(s.clone().requires_grad_() for s in state)
        results.append(_run_and_backward(call, xi, si if n_state == 2 else si[0], probes))
        grads.append([xi.grad, *(s.grad for s in si)] + [p.grad for p in module.parameters()])

    _assert_same(results, grads)


def test_bad_lengths_are_refused():
    model = lstm.LSTM(5, 6, batch_first=True)
    x = torch.randn(2, 7, 5)
    for bad, match in (
        (torch.tensor([3]), "shape"),
        (torch.tensor([3.0, 2.0]), "integers"),
        (torch.tensor([0, 2]), r"\[1, 7\]"),
        (torch.tensor([8, 2]), r"\[1, 7\]"),
    ):
        with pytest.raises(ValueError, match=match):
            model(x, lengths=bad)


@pytest.mark.parametrize("ours_cls, ref_cls", CELL_PAIRS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_cell_matches_torch(ours_cls, ref_cls, fused):
    torch.manual_seed(1)
    ref = ref_cls(4, 5)
    ours = ours_cls(4, 5, fused=fused)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(3, 4)
    state = (torch.randn(3, 5), torch.randn(3, 5)) if ref_cls is nn.LSTMCell else torch.randn(3, 5)
    out_ref, out = _as_tuple(ref(x, state)), _as_tuple(ours(x, state))
    for a, b in zip(out, out_ref, strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    sum(o.sum() for o in out_ref).backward()
    sum(o.sum() for o in out).backward()
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=ATOL, rtol=0)


@pytest.mark.parametrize("ours_cls, ref_cls", PAIRS, ids=lambda c: c.__name__)
def test_default_init_is_torchs(ours_cls, ref_cls):
    """Same registration order and U(-1/√H, 1/√H): the same seed draws the same weights."""
    torch.manual_seed(3)
    ref = ref_cls(5, 6, num_layers=2)
    torch.manual_seed(3)
    ours = ours_cls(5, 6, num_layers=2)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for a, b in zip(ours.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)


def test_no_bias_and_fused_explicit_agree_in_float64():
    torch.manual_seed(2)
    ref = nn.LSTM(3, 4, num_layers=2, bias=False)
    ours = lstm.LSTM(3, 4, num_layers=2, bias=False, fused=False).double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    explicit, _ = ours(x)
    ours.fused = True
    fused, _ = ours(x)
    torch.testing.assert_close(explicit, fused, atol=1e-12, rtol=0)


def test_lstm_gates_and_state_ranges():
    """Gates are sigmoids in (0, 1); h = o ⊙ tanh(C) lies in (-1, 1); the cell state is unbounded
    but changes by at most |i ⊙ C̃| < 1 per step beyond what f keeps."""
    torch.manual_seed(4)
    cell = lstm.LSTMCell(3, 8, fused=False)
    x, h, c = torch.randn(16, 3) * 5, torch.randn(16, 8), torch.randn(16, 8) * 3
    h2, c2 = cell(x, (h, c))
    assert h2.abs().max() < 1
    assert (c2.abs() < c.abs() + 1).all()
    assert (h2.abs() <= torch.tanh(c2.abs()) + 1e-6).all()  # o ∈ (0, 1)


def test_shapes_and_bad_input():
    model = lstm.LSTM(5, 6, num_layers=3, batch_first=True)
    out, (h, c) = model(torch.randn(2, 7, 5))
    assert out.shape == (2, 7, 6) and h.shape == c.shape == (3, 2, 6)
    with pytest.raises(ValueError, match="3-D input"):
        model(torch.randn(7, 5))
    with pytest.raises(ValueError, match="5 features"):
        model(torch.randn(2, 7, 4))


def test_open_forget_gate_sets_only_the_f_block():
    model = lstm.LSTM(3, 4, num_layers=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lstm.open_forget_gate(model, 5.0)
    for k in range(2):
        b_ih, b_hh = getattr(model, f"bias_ih_l{k}"), getattr(model, f"bias_hh_l{k}")
        total = (b_ih + b_hh).detach()
        assert torch.allclose(total[4:8], torch.full((4,), 5.0))
        for block in (slice(0, 4), slice(8, 16)):  # i, then g and o: untouched
            assert torch.equal(b_ih[block], before[f"bias_ih_l{k}"][block])


def test_first_symbol_task_is_seeded_and_labelled():
    def batch():
        return lstm.first_symbol_batch(
            torch.Generator().manual_seed(7), 50, 30, symbols=8, distractor_symbols=5
        )

    (tokens, labels), (again, _) = batch(), batch()
    assert tokens.shape == (50, 31) and torch.equal(tokens, again)
    assert torch.equal(labels, tokens[:, 0])
    assert labels.min() >= 0 and labels.max() < 8  # the symbol to remember
    assert tokens[:, 1:].min() >= 8 and tokens[:, 1:].max() < 13  # distractors: a separate set


def test_gradient_by_lag_vanishes_through_a_vanilla_rnn():
    """The mechanism the experiment measures: at initialisation the RNN's error signal shrinks
    geometrically with the lag, while an LSTM with an open forget gate keeps it."""
    torch.manual_seed(5)
    tokens, labels = lstm.first_symbol_batch(torch.Generator().manual_seed(0), 32, 40, 8, 8)
    rnn = lstm.SymbolRecall("rnn", 8, 8, hidden=32)
    memory = lstm.SymbolRecall("lstm", 8, 8, hidden=32)
    lstm.open_forget_gate(memory.recurrent, 5.0)
    g_rnn, g_lstm = lstm.gradient_by_lag(rnn, tokens, labels), lstm.gradient_by_lag(memory, tokens, labels)
    assert g_rnn.shape == g_lstm.shape == (41,)
    assert g_rnn[40] / g_rnn[0] < 1e-6
    assert g_lstm[40] / g_lstm[0] > 1e-2


def test_config_validation():
    lstm.PRESETS["default"].validate()
    lstm.PRESETS["quick"].validate()
    with pytest.raises(ValueError, match="symbols"):
        lstm.Config(symbols=1).validate()
    with pytest.raises(ValueError, match="probe_size"):
        lstm.Config(test_size=10, probe_size=20).validate()


def test_quick_run(tmp_path):
    from landmarks.runner import run_paper

    result = run_paper("lstm", out=tmp_path, quick=True, show_progress=False)
    assert (tmp_path / "lstm" / "result.json").exists()
    assert json.loads((tmp_path / "lstm" / "result.json").read_text())["paper"] == "lstm"
    assert len(result["claims"]) == len(lstm.CARD.claims)
    assert {p["file"] for p in result["plots"]} == {"training_curves.png", "gradient_vs_lag.png"}
    assert len(result["metrics"]["lstm_gradient_by_lag"]) == lstm.PRESETS["quick"].distractors + 1
