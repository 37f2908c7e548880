"""deep-speech-2: the bidirectional GRU equals torch's (packed, unequal lengths), sequence-wise
batch norm ignores padding, the model's output for an utterance does not depend on its batch,
SortaGrad's order, the n-gram LM, a user's WAV folder, and a quick run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from landmarks.cli import main
from landmarks.data import speech
from landmarks.papers import deep_speech_2 as ds2

LENGTHS = torch.tensor([7, 3, 5, 1])


def _copy_from_torch(ours: ds2.BatchNormBiGRU, ref: nn.GRU) -> None:
    with torch.no_grad():
        ours.input_proj.weight.copy_(torch.cat([ref.weight_ih_l0, ref.weight_ih_l0_reverse]))
        ours.input_proj.bias.copy_(torch.cat([ref.bias_ih_l0, ref.bias_ih_l0_reverse]))
        ours.weight_hh.copy_(torch.stack([ref.weight_hh_l0, ref.weight_hh_l0_reverse]))
        ours.bias_hh.copy_(torch.stack([ref.bias_hh_l0, ref.bias_hh_l0_reverse]))


def test_bigru_without_batch_norm_equals_torch_on_unequal_lengths():
    torch.manual_seed(0)
    ref = nn.GRU(6, 5, batch_first=True, bidirectional=True).double()
    ours = ds2.BatchNormBiGRU(6, 5, batch_norm=False).double()
    _copy_from_torch(ours, ref)
    x = torch.randn(4, 7, 6, dtype=torch.double, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    packed = pack_padded_sequence(x_ref, LENGTHS, batch_first=True, enforce_sorted=False)
    out_ref, _ = pad_packed_sequence(ref(packed)[0], batch_first=True, total_length=7)  # (B, T, 2H)
    both = ours.directions(x, LENGTHS)  # (2, B, T, H)
    mask = ds2.lengths_mask(LENGTHS, 7)
    assert torch.allclose(both[0][mask], out_ref[..., :5][mask], atol=1e-12)
    assert torch.allclose(both[1][mask], out_ref[..., 5:][mask], atol=1e-12)
    summed = ours(x, LENGTHS)
    assert torch.allclose(summed[mask], (out_ref[..., :5] + out_ref[..., 5:])[mask], atol=1e-12)
    assert (summed[~mask] == 0).all()
    summed.square().sum().backward()
    (out_ref[..., :5] + out_ref[..., 5:]).square().sum().backward()
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-10)


def test_sequence_batch_norm_uses_the_real_frames_only():
    torch.manual_seed(0)
    norm = ds2.SequenceBatchNorm(3)
    x = torch.randn(4, 7, 3)
    mask = ds2.lengths_mask(LENGTHS, 7)
    out = norm(x, mask)
    real = x[mask]  # every real frame of every sequence: statistics over batch and time
    expected = (real - real.mean(0)) / torch.sqrt(real.var(0, unbiased=False) + norm.norm.eps)
    assert torch.allclose(out[mask], expected, atol=1e-5)
    assert (out[~mask] == 0).all()
    garbage = x.clone()
    garbage[~mask] = 1e6  # what the padding holds changes nothing
    assert torch.allclose(ds2.SequenceBatchNorm(3)(garbage, mask)[mask], out[mask], atol=1e-5)


def test_reverse_within_reverses_each_sequence_in_its_own_length():
    x = torch.arange(4 * 7).view(4, 7, 1).float()
    r = ds2.reverse_within(x, LENGTHS)
    for b, n in enumerate(LENGTHS.tolist()):
        assert torch.equal(r[b, :n], x[b, :n].flip(0))
        assert torch.equal(r[b, n:], x[b, n:])
    assert torch.equal(ds2.reverse_within(r, LENGTHS), x)


def test_an_utterance_is_decoded_the_same_alone_or_in_a_padded_batch():
    torch.manual_seed(0)
    model = ds2.DeepSpeech2(mels=12, channels=3, hidden=6).eval()
    short, long = torch.randn(9, 12), torch.randn(16, 12)
    alone, n_alone = model(short[None], torch.tensor([9]))
    batch, n_batch = model(torch.stack([torch.cat([short, torch.zeros(7, 12)]), long]), torch.tensor([9, 16]))
    assert n_alone.tolist() == [5] and n_batch.tolist() == [5, 8]
    assert batch.shape == (8, 2, len(speech.ALPHABET) + 1)
    assert torch.allclose(alone[:, 0], batch[:5, 0], atol=1e-5)
    assert torch.allclose(batch.exp().sum(-1), torch.ones(8, 2), atol=1e-5)


def test_batch_norm_gradients_match_finite_differences():
    torch.manual_seed(0)
    layer = ds2.BatchNormBiGRU(3, 2, batch_norm=True).double()
    x = torch.randn(3, 4, 3, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([4, 2, 3])
    assert torch.autograd.gradcheck(lambda t: layer(t, lengths), (x,))


def test_sortagrad_orders_the_first_epoch_by_longest_utterance():
    lengths = [5, 1, 9, 3, 7, 2, 8, 4]
    batches = ds2.minibatches(lengths, 2)
    assert sorted(i for b in batches for i in b) == list(range(8))
    longest = [max(lengths[i] for i in b) for b in batches]
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    first = ds2.minibatch_order(longest, 0, True, g())
    assert [longest[i] for i in first] == sorted(longest)
    assert ds2.minibatch_order(longest, 1, True, g()) == ds2.minibatch_order(longest, 1, False, g())
    assert ds2.minibatch_order(longest, 0, False, g()) == torch.randperm(4, generator=g()).tolist()


def test_ngram_lm_is_a_distribution_and_learns_the_words():
    texts = [speech.encode_text(t) for t in ["the dog", "the fox", "the cat"]]
    lm = ds2.CharNgramLM(texts, len(speech.ALPHABET) + 1, order=3)
    for prefix in [(), tuple(speech.encode_text("th")), tuple(speech.encode_text("zq"))]:
        total = sum(np.exp(lm(prefix, c)) for c in range(1, len(speech.ALPHABET) + 1))
        assert total == pytest.approx(1.0)
    th = tuple(speech.encode_text("th"))
    assert lm(th, speech.encode_text("e")[0]) > lm(th, speech.encode_text("q")[0])


def test_pruned_beam_search_finds_what_the_full_one_finds():
    from landmarks.nn.ctc import prefix_beam_search

    logits = torch.randn(15, 6, generator=torch.Generator().manual_seed(0)) * 3
    lp = logits.log_softmax(-1)
    assert prefix_beam_search(lp, 4, min_log_prob=-30.0) == prefix_beam_search(lp, 4)


def test_quick_run_writes_result_and_figures(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("deep-speech-2", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "deep-speech-2" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == 3
    for figure in ("ablations.png", "alignment.png"):
        assert (tmp_path / "deep-speech-2" / figure).exists()


def _recordings(data: Path, count: int, seed: int, upper: bool = False) -> None:
    """``count`` synthetic utterances of one speaker as WAV files, with their transcripts."""
    rng = np.random.default_rng(seed)
    data.mkdir()
    speaker = speech.random_speakers(rng, 1)[0]
    lines = []
    for i in range(count):
        text = str(rng.choice(speech.LEXICON))
        speech.write_wav(data / f"u{i}.wav", speech.synthesize(text, speaker, rng))
        lines.append(f"u{i}.wav\t{text.upper() if upper else text}")
    (data / "transcripts.txt").write_text("\n".join(lines) + "\n")


def test_a_users_own_recordings(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data, out = tmp_path / "wavs", tmp_path / "out"
    _recordings(data, 12, seed=0, upper=True)
    assert main(["run", "deep-speech-2", "--quick", "--data-dir", str(data), "--out", str(out)]) == 0
    assert "your recordings" in capsys.readouterr().err
    (data / "transcripts.txt").write_text("u0.wav\tno digits 7\n")
    assert main(["run", "deep-speech-2", "--quick", "--data-dir", str(data), "--out", str(out)]) == 2
    assert "outside the alphabet" in capsys.readouterr().err


def test_too_few_recordings_for_a_minibatch_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data, out = tmp_path / "wavs", tmp_path / "out"
    _recordings(data, 4, seed=1)  # 3 to train on, 1 held out: fewer than the quick preset's batch of 8
    assert main(["run", "deep-speech-2", "--quick", "--data-dir", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "4 recordings leave 3 to train on" in err and "--set batch=N with N <= 3" in err
    assert not (out / "deep-speech-2" / "result.json").exists()


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "deep-speech-2", "--quick", "--set", "ablation_steps=3"]) == 2
    assert "multiple of eval_every" in capsys.readouterr().err
    assert main(["run", "deep-speech-2", "--quick", "--set", "hidden=0"]) == 2
    assert "hidden must be >= 1" in capsys.readouterr().err
    assert main(["run", "deep-speech-2", "--quick", "--set", "batch=25"]) == 2  # 24 utterances
    assert "batch (25) must not exceed train_utterances (24)" in capsys.readouterr().err


def test_a_folder_larger_than_train_utterances_allows_a_larger_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """train_utterances sizes the synthesized set only; with --data-dir the folder's size counts."""
    data, out = tmp_path / "wavs", tmp_path / "out"
    _recordings(data, 12, seed=2)  # 11 to train on, 1 held out
    argv = ["run", "deep-speech-2", "--quick", "--data-dir", str(data), "--out", str(out)]
    assert main([*argv, "--set", "train_utterances=4", "--set", "batch=10"]) == 0
    assert "11 training utterances" in capsys.readouterr().err
