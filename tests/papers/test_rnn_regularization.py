"""rnn-regularization: without dropout the model is a plain torch.nn.LSTM language model; dropout
acts only where the paper puts it; the recurrent variant is the same model plus masks on h_{t-1};
evaluation is deterministic; truncated BPTT carries the state; bad settings exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landmarks.cli import main
from landmarks.nn.recurrent import lstm_step
from landmarks.papers import rnn_regularization as rr

ATOL = 1e-5
V, H, L, B, T = 13, 8, 2, 3, 6


def _model(dropout: float = 0.0, recurrent_dropout: float = 0.0, mask: str = "step") -> rr.RegularizedLSTM:
    torch.manual_seed(0)
    return rr.RegularizedLSTM(V, H, L, dropout, recurrent_dropout, recurrent_mask=mask)


def _copy_from_torch(model: rr.RegularizedLSTM, ref: nn.LSTM) -> None:
    """Layer k of the torch stack becomes our k-th single-layer LSTM."""
    with torch.no_grad():
        for k, layer in enumerate(model.layers):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(layer, f"{kind}_l0").copy_(getattr(ref, f"{kind}_l{k}"))


def _state() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(L, B, H), torch.randn(L, B, H)


def test_without_dropout_equals_a_torch_lstm_language_model() -> None:
    model = _model(dropout=0.0)
    ref = nn.LSTM(H, H, L, batch_first=True)
    _copy_from_torch(model, ref)
    x, state = torch.randint(0, V, (B, T)), _state()

    model.train()  # p = 0: training mode is the same function
    logits, (h, c) = model(x, state)
    out_ref, (h_ref, c_ref) = ref(model.embed(x), state)
    torch.testing.assert_close(logits, model.head(out_ref), atol=ATOL, rtol=0)
    torch.testing.assert_close(h, h_ref, atol=ATOL, rtol=0)
    torch.testing.assert_close(c, c_ref, atol=ATOL, rtol=0)

    logits.sum().backward()
    (model.head(ref(model.embed(x), state)[0])).sum().backward()
    for k, layer in enumerate(model.layers):
        torch.testing.assert_close(
            layer.weight_hh_l0.grad, getattr(ref, f"weight_hh_l{k}").grad, atol=ATOL, rtol=0
        )


def test_dropout_acts_on_the_vertical_connections_only() -> None:
    """In training with p > 0, each layer's input is a dropped copy of the layer below, and the
    layer itself (the recurrence h_{t-1} → h_t) computes exactly what it computes without dropout."""
    p = 0.5
    model = _model(dropout=p).train()
    seen: list[tuple[torch.Tensor, tuple, torch.Tensor, tuple]] = []
    hooks = [
        layer.register_forward_hook(lambda m, args, out: seen.append((args[0], args[1], out[0], out[1])))
        for layer in model.layers
    ]
    x, state = torch.randint(0, V, (B, T)), _state()
    torch.manual_seed(1)
    model(x, state)
    for hook in hooks:
        hook.remove()

    below = model.embed(x).detach()  # h^0
    for k, (layer, (inp, s, out, (_, c))) in enumerate(zip(model.layers, seen, strict=True)):
        # The input is D(h^{k}): zeros, and the rest scaled by 1/(1-p).
        kept = inp != 0
        assert 0 < kept.float().mean() < 1
        torch.testing.assert_close(inp[kept], below[kept] / (1 - p), atol=ATOL, rtol=0)
        # The recurrence sees no dropout: the layer alone, in eval mode, gives the same numbers.
        clean_out, (_, clean_c) = layer.eval()(inp, s)
        torch.testing.assert_close(out, clean_out, atol=ATOL, rtol=0)
        torch.testing.assert_close(c, clean_c, atol=ATOL, rtol=0)
        torch.testing.assert_close(s[0], state[0][k : k + 1])  # the state it was given, untouched
        below = out.detach()


def test_the_recurrent_variant_drops_h_prev_with_the_stated_masks() -> None:
    """Explicit math with a fixed generator: D(h_{t-1}) feeds the gates, h_t is passed on."""
    p = 0.3
    layer = _model().layers[0]
    x = torch.randn(B, T, H)
    h0, c0 = torch.randn(1, B, H), torch.randn(1, B, H)
    for fresh in (True, False):
        out, (h_n, c_n) = rr.lstm_with_recurrent_dropout(
            layer, x, (h0, c0), p, fresh, generator=torch.Generator().manual_seed(3)
        )
        g = torch.Generator().manual_seed(3)
        w_ih, w_hh, b_ih, b_hh = layer.layer_weights(0)
        h, c, expected, mask = h0[0], c0[0], [], None
        for t in range(T):
            if fresh or mask is None:
                mask = (torch.rand(B, H, generator=g) < 1 - p).float() / (1 - p)
            h, c = lstm_step(F.linear(x[:, t], w_ih, b_ih), h * mask, c, w_hh, b_hh)
            expected.append(h)
        torch.testing.assert_close(out, torch.stack(expected, 1), atol=ATOL, rtol=0)
        torch.testing.assert_close((h_n[0], c_n[0]), (h, c), atol=ATOL, rtol=0)
        # and the masks really do change the result
        clean, _ = layer(x, (h0, c0))
        assert not torch.allclose(out, clean, atol=1e-3)


def test_bernoulli_and_rand_draw_the_same_masks() -> None:
    """The test above rebuilds masks with rand < keep; that is what bernoulli draws."""
    keep = 0.7
    a = torch.bernoulli(torch.full((B, H), keep), generator=torch.Generator().manual_seed(5))
    b = (torch.rand(B, H, generator=torch.Generator().manual_seed(5)) < keep).float()
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("mask", ["step", "sequence"])
def test_the_recurrent_variant_at_rate_zero_is_the_non_recurrent_model(mask: str) -> None:
    x, state = torch.randint(0, V, (B, T)), _state()
    plain = _model(dropout=0.4).train()
    variant = _model(dropout=0.4, recurrent_dropout=0.0, mask=mask).train()
    variant.load_state_dict(plain.state_dict())
    torch.manual_seed(2)
    expected = plain(x, state)[0]
    torch.manual_seed(2)
    torch.testing.assert_close(variant(x, state)[0], expected, atol=ATOL, rtol=0)
    # The step loop itself at p = 0 is the fused layer.
    layer, inputs = plain.layers[0], torch.randn(B, T, H)
    s = (state[0][:1], state[1][:1])
    out, (h, c) = rr.lstm_with_recurrent_dropout(layer, inputs, s, 0.0, mask == "step")
    ref_out, (ref_h, ref_c) = layer(inputs, s)
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
    torch.testing.assert_close((h, c), (ref_h, ref_c), atol=ATOL, rtol=0)


def test_evaluation_is_deterministic_and_drops_nothing() -> None:
    x = torch.randint(0, V, (B, T))
    variant = _model(dropout=0.5, recurrent_dropout=0.5).eval()
    clean = _model(dropout=0.0).eval()
    clean.load_state_dict(variant.state_dict())
    first, second = variant(x)[0], variant(x)[0]
    torch.testing.assert_close(first, second, atol=0, rtol=0)
    torch.testing.assert_close(first, clean(x)[0], atol=0, rtol=0)
    variant.train()
    assert not torch.allclose(variant(x)[0], first)  # and training mode does drop


def test_truncated_bptt_carries_the_state_and_cuts_the_gradient() -> None:
    model = _model().eval()
    trainer = rr.TruncatedBPTT(model, rows=B)
    x = torch.randint(0, V, (B, 2 * T))
    whole = model(x)[0]
    first, second = trainer(x[:, :T], reset=True), trainer(x[:, T:], reset=False)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=ATOL, rtol=0)
    assert not trainer.carry_h.requires_grad and "carry_c" in trainer.state_dict()
    # reset starts again from zeros
    torch.testing.assert_close(trainer(x[:, :T], reset=True), first, atol=ATOL, rtol=0)


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size() -> None:
    model = _model().eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    assert rr.perplexity(model, torch.randint(0, V, (200,)), rows=4, window=7) == pytest.approx(V, rel=1e-5)


def test_a_vocabulary_larger_than_the_text_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    argv = ["run", "rnn-regularization", "--quick", "--out", str(out), "--set", "vocab_size=100000"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "vocab_size=100000" in err and "at most" in err
    assert not (out / "rnn-regularization" / "checkpoints").exists()  # refused before training


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "rnn-regularization", "--set", "dropout=1.0"]) == 2
    assert "dropout must be in (0, 1)" in capsys.readouterr().err
    assert main(["run", "rnn-regularization", "--set", "recurrent_mask=always"]) == 2
    assert main(["run", "rnn-regularization", "--set", "train_tokens=100"]) == 2
    assert "train_tokens" in capsys.readouterr().err


def test_a_users_text_file(tmp_path: Path) -> None:
    """--data-dir: a small text of the user's own; its tail is held out."""
    words = " ".join("ab"[i % 2] + "cdefg"[i % 5] + "hijklmn"[i % 7] for i in range(3000))  # 70 words
    lines = "\n".join(words[i : i + 60] for i in range(0, len(words), 60))
    (tmp_path / "input.txt").write_text(lines)
    argv = ["run", "rnn-regularization", "--quick", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*argv, "--set", "vocab_size=30", "--set", "train_tokens=2000", "--set", "epochs=1"]) == 0
    assert (tmp_path / "o" / "rnn-regularization" / "result.json").exists()
