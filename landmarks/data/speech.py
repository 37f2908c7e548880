"""Offline speech for `deep-speech-2`: a small formant synthesizer, log-mel spectrograms, and a
reader for your own WAV files.

**The synthesizer.** Nothing here can download a speech corpus, so speech is made: a word is
spelled out, one sound per letter, and each sound is drawn as speech is produced. Voiced sounds
(vowels, nasals, liquids) are a glottal pulse train, the harmonics of the pitch f0, shaped by
the resonances of the vocal tract: formants F1, F2, F3, each a peak in the spectral envelope.
Fricatives are noise in a frequency band (high for "s", broad and weak for "f"); voiced
fricatives add voicing under it; stops are a short silence and a burst. Every *speaker* has
their own pitch, vocal-tract length (all formants scaled together, as between a child's voice
and a man's), speaking rate and noise level, so a model must learn the sounds and not one
voice; held-out speakers test that. 8 kHz, like telephone speech.

**Spectrograms.** ``log_mel_spectrogram``: the short-time Fourier transform from torch, the
power per bin, a mel filterbank written out here (triangles evenly spaced on the mel scale,
m = 2595 log₁₀(1 + f / 700)), and the log.

**Your data.** ``load_wav_folder(dir)`` reads 16-bit PCM mono WAV files and a
``transcripts.txt`` of ``name.wav<TAB>text`` lines, refusing anything else with the file named.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from landmarks.data.errors import DataFormatError

__all__ = [
    "ALPHABET",
    "LEXICON",
    "SAMPLE_RATE",
    "Speaker",
    "decode_text",
    "encode_text",
    "load_wav_folder",
    "log_mel_spectrogram",
    "mel_filterbank",
    "random_speakers",
    "synthesize",
    "write_wav",
]

SAMPLE_RATE = 8000
ALPHABET = " abcdefghijklmnopqrstuvwxyz"  # symbol i + 1 in CTC's output; 0 is the blank
LEXICON = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "yes",
    "no",
    "stop",
    "go",
    "left",
    "right",
    "up",
    "down",
    "on",
    "off",
    "black",
    "white",
    "red",
    "green",
    "blue",
    "grey",
    "pink",
    "when",
    "where",
    "what",
    "who",
    "why",
    "how",
    "big",
    "small",
    "hot",
    "cold",
    "new",
    "old",
]

# Formants (Hz) of the voiced sounds, after Peterson and Barney (1952) for the vowels.
_VOICED = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (270, 2290, 3010),
    "o": (570, 840, 2410),
    "u": (300, 870, 2240),
    "y": (400, 1700, 2600),
    "m": (250, 1000, 2200),
    "n": (250, 1400, 2500),
    "l": (360, 1300, 2700),
    "r": (420, 1300, 1600),
    "w": (290, 610, 2150),
}
# Noise bands (Hz) of fricatives, and whether voicing sounds under them.
_FRICATIVES = {
    "s": ((3000, 3900), False),
    "f": ((1000, 3900), False),
    "h": ((400, 2500), False),
    "c": ((2000, 3000), False),
    "x": ((1200, 3900), False),
    "v": ((1000, 3000), True),
    "z": ((3000, 3900), True),
    "j": ((1800, 2800), True),
}
# Stops: the burst's band (Hz), and for voiced stops the formants that follow the burst.
_STOPS = {
    "p": ((400, 1200), None),
    "t": ((2800, 3800), None),
    "k": ((1500, 2500), None),
    "q": ((900, 1600), None),
    "b": ((400, 1200), (300, 800, 2200)),
    "d": ((2800, 3800), (300, 1700, 2600)),
    "g": ((1500, 2500), (300, 2000, 2700)),
}


@dataclass(frozen=True)
class Speaker:
    pitch: float  # f0, Hz
    tract: float  # every formant multiplied by this
    rate: float  # speaking rate: durations divided by this
    noise: float  # background noise, relative to the speech's loudness


def random_speakers(
    rng: np.random.Generator, n: int, noise: tuple[float, float] = (0.01, 0.05)
) -> list[Speaker]:
    """Speakers with pitch 90-240 Hz, formants scaled by 0.88-1.15, rate 0.8-1.25, and noise
    drawn from ``noise`` (relative to the speech's peak)."""
    return [
        Speaker(
            pitch=float(rng.uniform(90, 240)),
            tract=float(rng.uniform(0.88, 1.15)),
            rate=float(rng.uniform(0.8, 1.25)),
            noise=float(rng.uniform(*noise)),
        )
        for _ in range(n)
    ]


def encode_text(text: str) -> list[int]:
    """Characters to CTC symbols 1..27 (0 is the blank); anything outside ALPHABET is refused."""
    bad = sorted({c for c in text if c not in ALPHABET})
    if bad:
        raise ValueError(f"characters outside the alphabet {ALPHABET!r}: {bad}")
    return [ALPHABET.index(c) + 1 for c in text]


def decode_text(symbols: list[int]) -> str:
    return "".join(ALPHABET[s - 1] for s in symbols if s > 0)


# ---- drawing sounds --------------------------------------------------------------------------------


def _voiced(
    n: int, speaker: Speaker, formants: tuple[float, ...], rng: np.random.Generator, jitter: float = 0.0
) -> np.ndarray:
    """Harmonics of f0 (with 2 % vibrato) weighted by a resonance at each formant, each formant
    moved by up to ± ``jitter`` (a fraction) this time."""
    formants = tuple(f * rng.uniform(1 - jitter, 1 + jitter) for f in formants) if jitter else formants
    t = np.arange(n) / SAMPLE_RATE
    f0 = speaker.pitch * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE  # (n,)
    k = np.arange(1, int(SAMPLE_RATE / 2 / speaker.pitch))  # harmonics below Nyquist
    freqs = k * speaker.pitch
    envelope = sum(
        1.0 / (1.0 + ((freqs - f * speaker.tract) / (60.0 + 0.06 * f)) ** 2) for f in formants
    ) / np.sqrt(k)  # the source falls off with frequency
    wave_ = (envelope[:, None] * np.sin(k[:, None] * phase[None])).sum(0)
    return wave_ / (np.abs(wave_).max() + 1e-9)


def _noise(n: int, band: tuple[float, float], speaker: Speaker, rng: np.random.Generator) -> np.ndarray:
    """White noise kept within a band (scaled with the vocal tract)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    lo, hi = band[0] * speaker.tract, min(band[1] * speaker.tract, SAMPLE_RATE / 2)
    spectrum[(freqs < lo) | (freqs > hi)] = 0
    out = np.fft.irfft(spectrum, n)
    return out / (np.abs(out).max() + 1e-9)


def _fade(x: np.ndarray) -> np.ndarray:
    ramp = min(len(x) // 2, int(0.005 * SAMPLE_RATE))
    if ramp:
        window = np.ones(len(x))
        window[:ramp] = np.linspace(0, 1, ramp)
        window[-ramp:] = np.linspace(1, 0, ramp)
        x = x * window
    return x


def _letter(c: str, speaker: Speaker, rng: np.random.Generator, jitter: float = 0.0) -> np.ndarray:
    def samples(ms: float) -> int:
        spread = 0.15 + 2 * jitter
        return int(ms / 1000 * SAMPLE_RATE / speaker.rate * rng.uniform(1 - spread, 1 + spread))

    if c == " ":
        return np.zeros(samples(70))
    if c in _VOICED:
        gain = 1.0 if c in "aeiouy" else 0.6
        return gain * _fade(_voiced(samples(110 if c in "aeiouy" else 80), speaker, _VOICED[c], rng, jitter))
    if c in _FRICATIVES:
        band, voiced = _FRICATIVES[c]
        n = samples(90)
        sound = 0.5 * _noise(n, band, speaker, rng)
        if voiced:
            sound = sound + 0.4 * _voiced(n, speaker, (250, 1200, 2400), rng, jitter)
        return _fade(sound)
    band, after = _STOPS[c]
    closure = np.zeros(samples(30))
    burst = 0.8 * _fade(_noise(samples(25), band, speaker, rng))
    parts = [closure, burst]
    if after is not None:
        parts.append(0.5 * _fade(_voiced(samples(40), speaker, after, rng, jitter)))
    return np.concatenate(parts)


def synthesize(text: str, speaker: Speaker, rng: np.random.Generator, jitter: float = 0.0) -> np.ndarray:
    """The waveform (float32 in [−1, 1], 8 kHz) of ``text`` spoken letter by letter by
    ``speaker``, with a little silence around it and the speaker's background noise.
    ``jitter`` > 0 makes every sound vary from one utterance to the next: its formants move by
    up to ± jitter and its duration by up to ± (0.15 + 2 · jitter), as a speaker never says a
    sound the same way twice."""
    encode_text(text)  # refuses unknown characters
    pad = np.zeros(int(0.05 * SAMPLE_RATE))
    speech = np.concatenate([pad, *[_letter(c, speaker, rng, jitter) for c in text], pad])
    speech = speech + speaker.noise * rng.standard_normal(len(speech))
    return (0.9 * speech / (np.abs(speech).max() + 1e-9)).astype(np.float32)


# ---- spectrograms ----------------------------------------------------------------------------------


def _hz_to_mel(f: Tensor) -> Tensor:
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def _mel_to_hz(m: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(
    n_fft: int, sample_rate: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None
) -> Tensor:
    """(n_fft // 2 + 1, n_mels): triangular filters whose corners are n_mels + 2 points evenly
    spaced on the mel scale between f_min and f_max; filter i rises from corner i to 1 at
    corner i + 1 and falls to 0 at corner i + 2 (linearly in Hz). The mel scale is HTK's,
    2595 log₁₀(1 + f/700), and the filters are not area-normalized: librosa's
    ``filters.mel(htk=True, norm=None)``, transposed (a test holds them equal)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got {f_min}, {f_max}")
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    corners = _mel_to_hz(
        torch.linspace(
            float(_hz_to_mel(torch.tensor(f_min))), float(_hz_to_mel(torch.tensor(f_max))), n_mels + 2
        ).double()
    )
    lower, centre, upper = corners[:-2], corners[1:-1], corners[2:]
    rising = (bins[:, None] - lower) / (centre - lower)
    falling = (upper - bins[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def log_mel_spectrogram(
    waveform: Tensor, n_fft: int = 256, hop: int = 80, n_mels: int = 40, sample_rate: int = SAMPLE_RATE
) -> Tensor:
    """(..., samples) → (..., frames, n_mels): log(mel filterbank · |STFT|² + 10⁻⁶), Hann
    windows of ``n_fft`` samples every ``hop`` (32 ms every 10 ms at 8 kHz)."""
    spec = torch.stft(
        waveform,
        n_fft,
        hop_length=hop,
        window=torch.hann_window(n_fft, device=waveform.device),
        return_complex=True,
    )
    power = spec.abs() ** 2  # (..., freqs, frames)
    mel = mel_filterbank(n_fft, sample_rate, n_mels).to(waveform.device)
    return torch.log(power.transpose(-1, -2) @ mel + 1e-6)


# ---- your own recordings ---------------------------------------------------------------------------


def load_wav_folder(folder: Path | str) -> tuple[list[np.ndarray], list[str], int]:
    """Waveforms (float32 in [−1, 1]), transcripts and the sample rate of the WAV files listed
    in ``folder/transcripts.txt`` (``name.wav<TAB>text`` per line, text in ALPHABET after
    lower-casing). Only 16-bit PCM mono files, all at one sample rate, are read."""
    folder = Path(folder)
    listing = folder / "transcripts.txt"
    if not listing.is_file():
        raise DataFormatError(f"{listing}: not found; it lists name.wav<TAB>transcript per line")
    waves, texts, rates = [], [], set()
    listed = set()
    for number, line in enumerate(listing.read_text().splitlines(), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataFormatError(f"{listing}: line {number}: expected name.wav<TAB>transcript")
        name, text = line.split("\t", 1)
        text = text.strip().lower()
        try:
            encode_text(text)
        except ValueError as e:
            raise DataFormatError(f"{listing}: line {number}: {e}") from None
        path = folder / name
        if not path.is_file():
            raise DataFormatError(f"{listing}: line {number}: {path} not found")
        try:
            with wave.open(str(path), "rb") as w:
                width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
                frames = w.readframes(w.getnframes())
        except (wave.Error, EOFError) as e:
            raise DataFormatError(f"{path}: not a PCM WAV file ({e})") from None
        if width != 2 or channels != 1:
            raise DataFormatError(
                f"{path}: {8 * width}-bit, {channels} channel(s); only 16-bit PCM mono is read"
            )
        waves.append(np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0)
        texts.append(text)
        rates.add(rate)
        listed.add(name)
    unlisted = sorted(p.name for p in folder.glob("*.wav") if p.name not in listed)
    if unlisted:
        raise DataFormatError(f"{folder}: no transcript for {', '.join(unlisted[:5])}")
    if not waves:
        raise DataFormatError(f"{listing}: lists no recordings")
    if len(rates) > 1:
        raise DataFormatError(f"{folder}: the files have different sample rates {sorted(rates)}")
    return waves, texts, rates.pop()


def write_wav(path: Path | str, waveform: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """16-bit PCM mono, for the tests and for listening to the synthesizer."""
    data = np.clip(np.round(np.asarray(waveform) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(data.tobytes())
