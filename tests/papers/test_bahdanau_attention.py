"""bahdanau-attention: the encoder reads both ways within each sentence's own length, attention
weights are a distribution over real words, teacher forcing equals step-by-step decoding, beam 1
is greedy, the sorted minibatches keep the data, and bad settings exit 2."""

from __future__ import annotations

import json

import pytest
import torch

from landmarks.cli import main
from landmarks.data.synthetic import eval_set
from landmarks.data.translation import BOS, EOS, PAD, TranslationTask
from landmarks.papers import bahdanau_attention as ba

TASK = TranslationTask(vocab=8, min_len=2, max_len=7)


def _model(attention: bool = True) -> ba.Translator:
    torch.manual_seed(0)
    return ba.Translator(TASK.vocab_size, embed=6, hidden=5, attention=attention, align=4).double().eval()


def _batch():
    return eval_set(TASK, 0, 6)


def test_reverse_padded_reverses_each_row_within_its_length() -> None:
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    out = ba.reverse_padded(x, torch.tensor([3, 2]))
    assert out.tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]
    assert ba.reverse_padded(out, torch.tensor([3, 2])).tolist() == x.tolist()


def test_annotations_ignore_padding_and_see_both_directions() -> None:
    model = _model()
    b = _batch()
    ann, summary = model.encoder(b.src, b.src_len)
    i = int(b.src_len.argmin())
    n = int(b.src_len[i])
    alone, _ = model.encoder(b.src[i : i + 1, :n], b.src_len[i : i + 1])
    torch.testing.assert_close(ann[i, :n], alone[0])  # padding does not leak into real words
    # changing the last word changes the first annotation's backward half only
    src = b.src[i : i + 1, :n].clone()
    src[0, -1] = 3 if src[0, -1] != 3 else 4
    changed, _ = model.encoder(src, b.src_len[i : i + 1])
    h = ann.shape[-1] // 2
    torch.testing.assert_close(changed[0, 0, :h], alone[0, 0, :h])
    assert not torch.allclose(changed[0, 0, h:], alone[0, 0, h:])
    assert summary.shape == (6, 2 * 5)


def test_attention_is_a_distribution_over_the_sentence() -> None:
    model = _model()
    b = _batch()
    _, alpha = model(b.src, b.src_len, b.tgt[:, :-1])
    assert alpha is not None
    torch.testing.assert_close(alpha.sum(-1), torch.ones(alpha.shape[:2], dtype=alpha.dtype))
    pad = torch.arange(b.src.shape[1])[None, :] >= b.src_len[:, None]
    assert alpha.masked_select(pad[:, None, :].expand_as(alpha)).abs().max() == 0


def test_teacher_forcing_equals_step_by_step_decoding() -> None:
    for attention in (True, False):
        model = _model(attention)
        b = _batch()
        logits, _ = model(b.src, b.src_len, b.tgt[:, :-1])
        s, memory = model.encode(b.src, b.src_len)
        for i in range(b.tgt.shape[1] - 1):
            step, s, _ = model.decoder.step(b.tgt[:, i], s, memory)
            torch.testing.assert_close(step, logits[:, i])


def test_a_beam_of_one_is_greedy_search() -> None:
    model = _model()
    b = _batch()
    greedy = model.translate(b.src, b.src_len, beam=1)
    assert all(isinstance(w, int) for row in greedy for w in row)
    assert all(len(row) <= int(b.src_len.max()) + 5 for row in greedy)
    from landmarks.nn.decoding import beam_search

    s, memory = model.encode(b.src, b.src_len)
    tokens, lengths, _ = beam_search(
        model.step_fn(), (s, memory), 6, bos=BOS, eos=EOS, max_len=12, beam_size=1, alpha=0.0
    )
    one = [
        row[: n - 1] if row[n - 1] == EOS else row[:n] for row, n in zip(tokens.tolist(), lengths.tolist())
    ]
    assert one == greedy


def test_sorted_batches_are_deterministic_similar_in_length_and_unpadded() -> None:
    task = TranslationTask()
    draw = task.sorted_batches(seed=3, batch_size=16, pool=5)
    again = task.sorted_batches(seed=3, batch_size=16, pool=5)
    spans = []
    for step in range(10):
        b = draw(step)
        assert torch.equal(b.src, again(step).src)
        assert b.src.shape[1] == int(b.src_len.max())  # trimmed to its own longest sentence
        assert (b.src[torch.arange(16), b.src_len - 1] != PAD).all()
        spans.append(int(b.src_len.max() - b.src_len.min()))
    assert sum(spans) / len(spans) < 10  # lengths in [5, 50], yet each batch spans a narrow range
    tgt, align = task.translate(b.src)
    words = b.tgt[:, 1:-1]
    assert torch.equal(words.masked_fill(words == EOS, PAD), tgt) and torch.equal(b.align, align)


def test_length_buckets_cover_every_length_once() -> None:
    buckets = ba.length_buckets(torch.tensor([5]), 5, 50, 5)
    covered = [n for lo, hi in buckets for n in range(lo, hi + 1)]
    assert covered == list(range(5, 51))


@pytest.mark.parametrize("setting", ["beam=0", "buckets=100", "warmup=5000", "hidden=0"])
def test_bad_settings_exit_2_before_training(tmp_path, capsys, setting) -> None:
    assert main(["run", "bahdanau-attention", "--quick", "--set", setting, "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "bahdanau-attention" / "result.json").exists()


def test_quick_run(tmp_path) -> None:
    assert main(["run", "bahdanau-attention", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "bahdanau-attention" / "result.json").read_text())
    assert len(result["claims"]) == len(ba.CARD.claims)
    assert {p["file"] for p in result["plots"]} == {"bleu_by_length.png", "alignment.png"}
    assert set(result["metrics"]["bleu_by_bucket"]) == {"rnnsearch", "rnnencdec"}
