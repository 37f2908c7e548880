"""Offline speech: the synthesizer's sounds behave like speech sounds, the mel filterbank is
the formula, and the WAV reader reads 16-bit mono and refuses the rest by name."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from landmarks.data.errors import DataFormatError
from landmarks.data.speech import (
    ALPHABET,
    LEXICON,
    SAMPLE_RATE,
    Speaker,
    decode_text,
    encode_text,
    load_wav_folder,
    log_mel_spectrogram,
    mel_filterbank,
    random_speakers,
    synthesize,
    write_wav,
)

VOICE = Speaker(pitch=120.0, tract=1.0, rate=1.0, noise=0.0)


def test_text_codes_round_trip_and_refuse_other_characters():
    assert decode_text(encode_text("the fox")) == "the fox"
    assert min(encode_text(ALPHABET)) == 1  # 0 is CTC's blank
    with pytest.raises(ValueError, match="outside the alphabet"):
        encode_text("Fox!")
    assert set("".join(LEXICON)) == set(ALPHABET) - {" "}  # every letter is heard somewhere


def test_synthesis_is_seeded_and_slower_speech_is_longer():
    a = synthesize("seven", VOICE, np.random.default_rng(1))
    b = synthesize("seven", VOICE, np.random.default_rng(1))
    assert np.array_equal(a, b) and a.dtype == np.float32 and np.abs(a).max() <= 1
    slow = synthesize("seven", Speaker(120.0, 1.0, 0.8, 0.0), np.random.default_rng(1))
    fast = synthesize("seven", Speaker(120.0, 1.0, 1.25, 0.0), np.random.default_rng(1))
    assert len(slow) > 1.4 * len(fast)


def _spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE), np.abs(np.fft.rfft(x))


def test_vowels_are_harmonics_of_the_pitch_and_s_is_high_noise():
    freqs, mag = _spectrum(synthesize("u", VOICE, np.random.default_rng(0)))
    peak = freqs[np.argmax(mag * (freqs < 400))]
    assert abs(peak - 120) < 15 or abs(peak - 240) < 15 or abs(peak - 360) < 15  # a harmonic of f0

    def centroid(text: str) -> float:
        f, m = _spectrum(synthesize(text, VOICE, np.random.default_rng(0)))
        return float((f * m**2).sum() / (m**2).sum())

    assert centroid("s") > 2500 > 1000 > centroid("u")


def test_a_longer_vocal_tract_lowers_the_formants():
    def f2(tract: float) -> float:
        f, m = _spectrum(synthesize("i", Speaker(100.0, tract, 1.0, 0.0), np.random.default_rng(0)))
        band = (f > 1500) & (f < 3000)
        return float(f[band][np.argmax(m[band])])

    assert f2(0.9) < f2(1.1)


def test_speakers_differ():
    speakers = random_speakers(np.random.default_rng(0), 20)
    assert len({round(s.pitch) for s in speakers}) > 15
    assert all(90 <= s.pitch <= 240 and 0.8 <= s.rate <= 1.25 for s in speakers)


def test_mel_filterbank_is_the_formula():
    n_fft, rate, n_mels = 256, 8000, 10
    fb = mel_filterbank(n_fft, rate, n_mels, f_min=100.0)

    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    corners = 700 * (10 ** (np.linspace(mel(100.0), mel(4000.0), n_mels + 2) / 2595) - 1)
    for b, f in enumerate(np.linspace(0, 4000, n_fft // 2 + 1)):
        for i in range(n_mels):
            lo, mid, hi = corners[i : i + 3]
            expected = (
                (f - lo) / (mid - lo) if lo <= f <= mid else (hi - f) / (hi - mid) if mid < f <= hi else 0.0
            )
            assert fb[b, i].item() == pytest.approx(expected, abs=1e-5)
    # Between the first and the last centre, neighbouring triangles add up to 1.
    inside = (torch.linspace(0, 4000, n_fft // 2 + 1) >= corners[1]) & (
        torch.linspace(0, 4000, n_fft // 2 + 1) <= corners[-2]
    )
    assert torch.allclose(fb[inside].sum(1), torch.ones(int(inside.sum())), atol=1e-5)


@pytest.mark.parametrize(
    ("n_fft", "rate", "n_mels", "f_min", "f_max"),
    [(256, 8000, 40, 0.0, None), (512, 16000, 80, 20.0, 7600.0), (256, 8000, 10, 100.0, None)],
)
def test_mel_filterbank_equals_librosa(n_fft, rate, n_mels, f_min, f_max):
    """librosa's HTK-scale filters without area normalization are ours (torchaudio, the other
    reference the issue names, has no wheel for this torch)."""
    librosa = pytest.importorskip("librosa")
    ours = mel_filterbank(n_fft, rate, n_mels, f_min=f_min, f_max=f_max)
    theirs = librosa.filters.mel(
        sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max, htk=True, norm=None, dtype=np.float64
    )
    assert np.abs(ours.double().numpy() - theirs.T).max() < 1e-5


def test_log_mel_spectrogram_shape_and_batching():
    x = torch.from_numpy(synthesize("go", VOICE, np.random.default_rng(0)))
    one = log_mel_spectrogram(x)
    assert one.shape == (1 + len(x) // 80, 40)
    two = log_mel_spectrogram(torch.stack([x, x]))
    assert torch.allclose(two[0], one, atol=1e-5)


def _folder(tmp_path: Path, lines: str) -> Path:
    (tmp_path / "transcripts.txt").write_text(lines)
    return tmp_path


def test_wav_folder_round_trip(tmp_path: Path):
    x = synthesize("yes", VOICE, np.random.default_rng(0))
    write_wav(tmp_path / "a.wav", x)
    write_wav(tmp_path / "b.wav", x[:100])
    waves, texts, rate = load_wav_folder(_folder(tmp_path, "a.wav\tYes\nb.wav\tno\n"))
    assert texts == ["yes", "no"] and rate == SAMPLE_RATE
    assert np.abs(waves[0] - x).max() < 1e-4


def _raw_wav(path: Path, width: int, channels: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(8000)
        w.writeframes(bytes(100 * width * channels))


def test_wav_folder_refuses_what_it_cannot_read(tmp_path: Path):
    with pytest.raises(DataFormatError, match=r"transcripts.txt: not found"):
        load_wav_folder(tmp_path)
    _raw_wav(tmp_path / "eight.wav", width=1, channels=1)
    with pytest.raises(DataFormatError, match=r"eight.wav: 8-bit"):
        load_wav_folder(_folder(tmp_path, "eight.wav\thi\n"))
    (tmp_path / "eight.wav").unlink()
    _raw_wav(tmp_path / "stereo.wav", width=2, channels=2)
    with pytest.raises(DataFormatError, match=r"stereo.wav: 16-bit, 2 channel"):
        load_wav_folder(_folder(tmp_path, "stereo.wav\thi\n"))
    (tmp_path / "stereo.wav").unlink()
    write_wav(tmp_path / "a.wav", np.zeros(10))
    with pytest.raises(DataFormatError, match="line 1: characters outside"):
        load_wav_folder(_folder(tmp_path, "a.wav\thi 2\n"))
    with pytest.raises(DataFormatError, match=r"line 2: .*missing.wav not found"):
        load_wav_folder(_folder(tmp_path, "a.wav\thi\nmissing.wav\tno\n"))
    write_wav(tmp_path / "b.wav", np.zeros(10))
    with pytest.raises(DataFormatError, match=r"no transcript for b.wav"):
        load_wav_folder(_folder(tmp_path, "a.wav\thi\n"))
    write_wav(tmp_path / "b.wav", np.zeros(10), sample_rate=16000)
    with pytest.raises(DataFormatError, match="different sample rates"):
        load_wav_folder(_folder(tmp_path, "a.wav\thi\nb.wav\tho\n"))
    (tmp_path / "c.wav").write_bytes(b"not a wav")
    with pytest.raises(DataFormatError, match=r"c.wav: not a PCM WAV"):
        load_wav_folder(_folder(tmp_path, "a.wav\thi\nb.wav\tho\nc.wav\tx\n"))


def test_jitter_varies_each_sound_between_utterances():
    rng = np.random.default_rng(0)
    plain = [len(synthesize("seven", VOICE, rng)) for _ in range(30)]
    varied = [len(synthesize("seven", VOICE, rng, jitter=0.25)) for _ in range(30)]
    assert np.std(varied) > 2 * np.std(plain)
    assert len(random_speakers(rng, 3, noise=(0.2, 0.4))) == 3
    assert all(0.2 <= s.noise <= 0.4 for s in random_speakers(rng, 10, noise=(0.2, 0.4)))
