"""Neural Machine Translation of Rare Words with Subword Units (Sennrich, Haddow, Birch, 2016),
byte-level as in GPT-2 (Radford, Wu, Child, Luan, Amodei, Sutskever, 2019).

A word vocabulary cannot hold every word; characters make sequences long. Byte-pair encoding
learns the units in between from the data: merge the most frequent adjacent pair, again and
again (``landmarks.tokenizers.bpe``). Frequent words end up as one token, rare ones as a few
pieces, and on bytes nothing is ever out of vocabulary.

``reproduce`` trains once on the corpus (or ``--data-dir`` text) up to the largest vocabulary
(the merges of a smaller vocabulary are a prefix of a larger one's), times the training up to
4,096 tokens, measures bytes per token on held-out text for every vocabulary size, checks the
round trip on random bytes, on characters from every Unicode plane and on the held-out text,
and times encoding beside Hugging Face ``tokenizers`` and ``tiktoken`` when they are installed
(the same merges loaded into each).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np

from landmarks.data.text import text_split
from landmarks.engine import Run
from landmarks.registry import Card, ClaimSpec
from landmarks.tokenizers.bpe import ByteLevelBPE, train_bpe

__all__ = ["CARD", "PRESETS", "Config", "every_plane", "reproduce"]

USES_DATA_DIR = True  # --data-dir: your own text file (or a folder with input.txt)
SPECIAL = ("<|endoftext|>",)

CARD = Card(
    citation=(
        "Rico Sennrich, Barry Haddow, Alexandra Birch. Neural Machine Translation of Rare Words with "
        "Subword Units. ACL 2016. arXiv:1508.07909. Byte-level BPE: Alec Radford, Jeffrey Wu, Rewon "
        "Child, David Luan, Dario Amodei, Ilya Sutskever. Language Models are Unsupervised Multitask "
        "Learners. OpenAI, 2019 (GPT-2), Sec. 2.2."
    ),
    takeaways=[
        "Subword units learned by merging the most frequent adjacent pair: frequent words become "
        "one token, rare words a few, and the vocabulary size sets the trade-off.",
        "On bytes (GPT-2) the base vocabulary is the 256 byte values: every string, in any "
        "script or none, encodes, and decoding gives back the exact bytes.",
        "Merges never cross GPT-2's pre-tokenization cuts (letters, digits, punctuation, spaces), "
        "so 'dog.' and 'dog!' share 'dog'.",
    ],
    claims=[
        ClaimSpec(
            "Bytes per token on held-out text rise with vocabulary size, 257 → 16,384: steps that do not rise",
            "<= 0",
            "Sennrich et al. Sec. 3.2: the number of merge operations is BPE's one hyperparameter; "
            "it sets the vocabulary size, and with it how long the segmented text is",
        ),
        ClaimSpec(
            "Training on the corpus to a 4,096-token vocabulary, seconds",
            "< 30",
            "catalog budget: incremental pair counts, not a recount per merge",
        ),
        ClaimSpec(
            "Exact round trip (random bytes, every Unicode plane, the held-out text): inputs that differ",
            "<= 0",
            "GPT-2 Sec. 2.2: a byte-level LM can assign a probability to any Unicode string",
        ),
    ],
    keeps=[
        "GPT-2's byte-to-character table, its pre-tokenization pattern and its file formats "
        "(vocab.json, merges.txt), so GPT-2's own files load",
        "training by incremental pair counts with a heap; ties broken as Hugging Face tokenizers "
        "breaks them (smallest symbol ids), so the merges equal its trainer's (tested)",
        "encoding by merge rank, with a cache of pre-tokens; special tokens never split",
    ],
    shrinks=[
        "vocabularies up to 16,384 (GPT-2: 50,257) trained on 4.5 MB of Shakespeare (GPT-2: 40 GB of WebText)",
    ],
    figures={
        "Sennrich et al., Algorithm 1": "learn BPE operations: count pairs, merge the most frequent, repeat",
        "GPT-2, Sec. 2.2": "byte-level BPE with merges blocked across character categories; 50,257 tokens",
    },
)


@dataclass(frozen=True)
class Config:
    vocab_sizes: tuple[int, ...] = (
        257,
        512,
        1024,
        2048,
        4096,
        8192,
        16384,
    )  # 257: the bytes and <|endoftext|>
    timed_vocab: int = 4096
    random_bytes: int = 65536
    per_plane: int = 200  # characters drawn from each of Unicode's 17 planes

    def validate(self) -> None:
        if not self.vocab_sizes:
            raise ValueError("vocab_sizes must list at least one size")
        small = [v for v in (*self.vocab_sizes, self.timed_vocab) if v < 256 + len(SPECIAL)]
        if small:
            raise ValueError(
                f"vocabulary sizes {small} are smaller than the 256 bytes plus {len(SPECIAL)} special "
                f"token a byte-level vocabulary holds (at least {256 + len(SPECIAL)})"
            )
        if self.random_bytes < 1 or self.per_plane < 1:
            raise ValueError("random_bytes and per_plane must be >= 1")


PRESETS = {
    "default": Config(),
    "quick": Config(vocab_sizes=(257, 300, 400), timed_vocab=300, random_bytes=512, per_plane=4),
}


def every_plane(rng: np.random.Generator, per_plane: int) -> str:
    """Characters drawn uniformly from each of Unicode's 17 planes (surrogates skipped)."""
    chars = []
    for plane in range(17):
        points = rng.integers(plane * 0x10000, (plane + 1) * 0x10000, per_plane)
        chars += [chr(int(p)) for p in points if not 0xD800 <= p <= 0xDFFF]
    return "".join(chars)


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    split = text_split(run.data_dir)
    held_out = split.val
    largest = max(*cfg.vocab_sizes, cfg.timed_vocab)
    merges_at_timed = cfg.timed_vocab - 256 - len(SPECIAL)
    reached: dict[str, float] = {}
    bar = run.progress(total=largest - 256 - len(SPECIAL), desc="merges", unit="merge")
    began = time.perf_counter()

    def on_merge(n: int) -> None:
        bar.update(1)
        if n == merges_at_timed:
            reached["seconds"] = time.perf_counter() - began

    full = train_bpe([split.train], largest, SPECIAL, on_merge=on_merge)
    bar.close()
    total_seconds = time.perf_counter() - began
    if merges_at_timed == 0:
        reached["seconds"] = 0.0
    if "seconds" not in reached:  # the corpus ran out of pairs before the timed size
        reached["seconds"] = total_seconds
    run.log(
        f"{len(full.merges)} merges in {total_seconds:.1f} s; {cfg.timed_vocab} tokens after {reached['seconds']:.1f} s"
    )

    held_bytes = len(held_out.encode("utf-8"))
    per_size = {}
    for v in sorted(cfg.vocab_sizes):
        tok = ByteLevelBPE.from_merges(full.merges[: v - 256 - len(SPECIAL)], SPECIAL)
        per_size[v] = held_bytes / max(1, len(tok.encode(held_out)))
    sizes = sorted(per_size)
    not_rising = sum(per_size[b] <= per_size[a] for a, b in itertools.pairwise(sizes))

    rng = run.rng("round trip")
    random_bytes = rng.integers(0, 256, cfg.random_bytes, dtype=np.uint8).tobytes()
    planes = every_plane(rng, cfg.per_plane)
    tok = ByteLevelBPE.from_merges(full.merges[:merges_at_timed], SPECIAL)
    differ = {
        "random_bytes": tok.decode_bytes(tok.encode_bytes(random_bytes)) != random_bytes,
        "unicode_planes": tok.decode(tok.encode(planes)) != planes,
        "held_out_text": tok.decode(tok.encode(held_out)) != held_out,
        "special_token": tok.decode(tok.encode(f"a{SPECIAL[0]}b")) != f"a{SPECIAL[0]}b",
    }

    run.metric("bytes_per_token", {str(v): round(b, 4) for v, b in per_size.items()})
    run.metric(
        "train_seconds",
        {"to_timed_vocab": round(reached["seconds"], 2), "to_largest": round(total_seconds, 2)},
    )
    run.metric("round_trip_differs", differ)
    run.metric("encode_throughput_mb_per_s", _throughput(tok, held_out))
    run.check(CARD.claims[0], not_rising)
    run.check(CARD.claims[1], reached["seconds"])
    run.check(CARD.claims[2], sum(differ.values()))
    _plot(run, per_size)


def _throughput(tok: ByteLevelBPE, text: str) -> dict[str, float | None]:
    """Encoding speed on ``text`` (MB/s, median of 3 after a warm-up), ours beside the libraries
    people use, each loaded with the same merges; None for one that is not installed."""
    from landmarks.timing import timed
    from landmarks.tokenizers.interop import to_hf_tokenizer, to_tiktoken

    mb = len(text.encode("utf-8")) / 1e6
    fresh = ByteLevelBPE(tok.vocab, tok.merges, tok.special_tokens)  # an empty cache: warm-up fills it
    rates: dict[str, float | None] = {"ours": round(mb / timed(lambda: fresh.encode(text), 3, warmup=1), 2)}
    for name, build in (("tokenizers", to_hf_tokenizer), ("tiktoken", to_tiktoken)):
        try:
            other = build(tok)
        except ImportError:
            rates[name] = None
            continue
        encode = (
            (lambda t, o=other: o.encode(t).ids)
            if name == "tokenizers"
            else (lambda t, o=other: o.encode_ordinary(t))
        )
        rates[name] = round(mb / timed(lambda e=encode: e(text), 3, warmup=1), 2)
    return rates


def _plot(run: Run, per_size: dict[int, float]) -> None:
    from landmarks.plots import plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    sizes = sorted(per_size)
    ax.plot(sizes, [per_size[v] for v in sizes], "o-")
    for v in sizes:
        ax.annotate(
            f"{per_size[v]:.2f}",
            (v, per_size[v]),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("vocabulary size (tokens)")
    ax.set_ylabel("held-out bytes per token")
    ax.set_title("Byte-level BPE: longer tokens as the vocabulary grows")
    run.save_figure(fig, "bytes_per_token", "Bytes per token on held-out text against vocabulary size")
