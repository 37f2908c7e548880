"""char-rnn: the model's paths agree, truncated BPTT carries state but not gradient, the
cell search measures what it says, and a user's own text works."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landmarks.cli import main
from landmarks.data.shakespeare import CharVocab
from landmarks.papers.char_rnn import (
    CharRNN,
    TruncatedBPTT,
    correlations,
    evaluate,
    sample,
    text_properties,
)


def _model(layers: int = 2) -> CharRNN:
    torch.manual_seed(0)
    return CharRNN(vocab_size=11, hidden=16, layers=layers).double()


def test_fused_and_explicit_lstm_give_the_same_logits() -> None:
    model = _model()
    x = torch.randint(0, 11, (3, 20), generator=torch.Generator().manual_seed(0))
    fused, (h, c) = model(x)
    model.lstm.fused = False
    explicit, (h2, c2) = model(x)
    torch.testing.assert_close(fused, explicit)
    torch.testing.assert_close(h, h2)
    torch.testing.assert_close(c, c2)


def test_cell_trace_ends_at_the_kernel_cell_state() -> None:
    model = _model(layers=2)
    x = torch.randint(0, 11, (30,), generator=torch.Generator().manual_seed(1))
    trace = model.cell_trace(x)  # (T, layers·H)
    _, (_, c) = model(x[None])
    assert trace.shape == (30, 32)
    torch.testing.assert_close(trace[-1], torch.tanh(c[:, 0]).reshape(-1))


def test_truncated_bptt_carries_state_but_stops_the_gradient() -> None:
    model = _model(layers=1)
    trainer = TruncatedBPTT(model, rows=2).double()
    x = torch.randint(0, 11, (2, 12), generator=torch.Generator().manual_seed(2))
    whole, _ = model(x)
    first = trainer(x[:, :6], reset=True)
    second = trainer(x[:, 6:], reset=False)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)  # same forward values
    # the second window's loss reaches only the weights through its own steps: the carried
    # state is a constant, so its gradient with respect to that state does not exist
    assert not trainer.carry_h.requires_grad and not trainer.carry_c.requires_grad
    restarted = trainer(x[:, 6:], reset=True)
    torch.testing.assert_close(restarted, model(x[:, 6:])[0])


def test_carried_state_is_checkpointed_with_the_weights() -> None:
    trainer = TruncatedBPTT(_model(layers=1), rows=2).double()
    trainer(torch.randint(0, 11, (2, 5)), reset=True)
    state = trainer.state_dict()
    assert "carry_h" in state and "carry_c" in state and state["carry_h"].abs().sum() > 0


def test_evaluate_is_the_mean_cross_entropy() -> None:
    model = _model(layers=1)
    ids = torch.randint(0, 11, (41,), generator=torch.Generator().manual_seed(3))
    logits, _ = model(ids[None, :-1])
    expected = F.cross_entropy(logits[0], ids[1:]).item()
    assert evaluate(model, ids, rows=1, window=7) == pytest.approx(expected, rel=1e-9)


def test_sampling_is_seeded() -> None:
    model = _model(layers=1).float()
    vocab = CharVocab("abcdefghij\n")
    a = sample(model, vocab, "a", 50, torch.Generator().manual_seed(0), temperature=0.8, top_k=5)
    b = sample(model, vocab, "a", 50, torch.Generator().manual_seed(0), temperature=0.8, top_k=5)
    assert a == b and len(a) == 50


def test_text_properties() -> None:
    text = "AB.\nx[y]z\nq"
    props = text_properties(text)
    assert props["position in line"].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 0]
    assert props["inside [brackets]"].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert props["in a speaker-name line"].tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert all(len(p) == len(text) for p in props.values())


def test_a_speaker_line_opens_a_block() -> None:
    from landmarks.papers.char_rnn import speaker_line_share, speaker_lines

    text = "HERMIA.\nI am amazed.\nAmen.\n\nHam.\nTo be.\n\n[Exit.]\n\nFirst Citizen:\nSpeak."
    lines = text.split("\n")
    named = [line for line, is_name in zip(lines, speaker_lines(lines), strict=True) if is_name]
    assert named == ["HERMIA.", "Ham.", "First Citizen:"]  # not "Amen." inside a speech, nor "[Exit.]"
    assert speaker_line_share(text) == 3 / 8
    assert speaker_line_share("") == 0.0


def test_correlations_match_numpy() -> None:
    g = torch.Generator().manual_seed(0)
    trace = torch.randn(200, 5, generator=g, dtype=torch.float64)
    prop = trace[:, 2] * 0.7 + torch.randn(200, generator=g, dtype=torch.float64)
    r = correlations(trace, prop)
    expected = [np.corrcoef(trace[:, i].numpy(), prop.numpy())[0, 1] for i in range(5)]
    np.testing.assert_allclose(r.numpy(), expected, atol=1e-12)
    assert correlations(torch.ones(10, 2), prop[:10]).tolist() == [0.0, 0.0]  # constant cells


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "char-rnn", "--quick", "--set", "temperature=0"]) == 2
    assert "temperature must be > 0" in capsys.readouterr().err


def test_a_users_own_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    words = ["to", "be", "or", "not", "that", "is", "the", "question"]
    lines = [" ".join(rng.choice(words, size=6)) for _ in range(2000)]
    (data / "input.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["run", "char-rnn", "--quick", "--data-dir", str(data), "--out", str(out)]) == 0
    result = json.loads((out / "char-rnn" / "result.json").read_text())
    assert result["metrics"]["val_loss_nats"] > 0
    (data / "input.txt").write_bytes(b"")
    assert main(["run", "char-rnn", "--quick", "--data-dir", str(data), "--out", str(out)]) == 2
    assert "empty" in capsys.readouterr().err
