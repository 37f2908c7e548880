"""Kolmogorov Complexity and Algorithmic Randomness (Shen, Uspensky, Vereshchagin, 2017).

The Kolmogorov complexity K(x) of a string is the length of its shortest description: the
shortest program that prints it. It cannot be computed, but every compressor gives an upper
bound, C(x) ≥ K(x) up to a constant (the decompressor's size). Three facts of the book's first
chapters are checked here by compressing real data:

1. Most strings are incompressible. There are fewer than 2^(n−k) descriptions shorter than
   n − k bits, so fewer than a 2^−k share of the n-bit strings can be compressed by k bits or
   more (Sec. 1.1, the counting argument). Random bytes do not shrink under any compressor.
2. Compression measures shared information: the normalized compression distance
   NCD(x, y) = (C(xy) − min(C(x), C(y))) / max(C(x), C(y)) (``landmarks.information.ncd``)
   groups texts by where they come from, with no features chosen by hand.
3. Learning is compression: a model that predicts the next character well drives an arithmetic
   coder (``landmarks.information.arithmetic``) to fewer bits than general-purpose compressors;
   the bits it writes are its cross-entropy on the text.

``reproduce`` measures each one, the third with ``char-rnn``'s LSTM trained on the bundled
Shakespeare and an actual encode and decode of held-out plays.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from landmarks.information.arithmetic import (
    AdaptiveContextModel,
    compress,
    decode,
    encode,
    encode_bits,
    quantize,
)
from landmarks.information.ncd import COMPRESSORS, compressed_size, distance_matrix
from landmarks.registry import Card, ClaimSpec

if TYPE_CHECKING:
    from landmarks.engine import Run

__all__ = [
    "CARD",
    "PRESETS",
    "CharModelCoder",
    "Config",
    "cluster_purity",
    "incompressible_shares",
    "reproduce",
]

CARD = Card(
    citation=(
        "Alexander Shen, Vladimir A. Uspensky, Nikolai Vereshchagin. Kolmogorov Complexity and "
        "Algorithmic Randomness. American Mathematical Society, 2017."
    ),
    takeaways=[
        "K(x), the length of the shortest program printing x, is uncomputable, but any compressor "
        "bounds it from above.",
        "Most strings are random: fewer than a 2^−k share of the n-bit strings can be described "
        "in fewer than n − k bits.",
        "Compressed sizes measure shared information (NCD), and a better predictor is a better "
        "compressor: learning is compression.",
    ],
    claims=[
        ClaimSpec(
            "random bytes do not compress: the smallest compressed size over zlib, bz2, lzma and "
            "an arithmetic coder, as a share of the original (100 kB of seeded random bytes)",
            ">= 0.99",
            "Sec. 1.1, the counting argument: fewer than 2^(n−k) strings have K(x) < n − k, so most "
            "strings have K(x) ≥ n − O(1)",
        ),
        ClaimSpec(
            "incompressibility: for every k, the share of all n-bit strings that an arithmetic "
            "coder writes in fewer than n − k bits, times 2^k (the largest over k = 1 … n − 1)",
            "< 1",
            "Sec. 1.1: fewer than 2^(n−k) strings have complexity below n − k, a share below 2^−k",
        ),
        ClaimSpec(
            "NCD clusters texts by source: purity of three clusters (average linkage on lzma NCD) "
            "over Shakespeare excerpts, Python source files and random bytes",
            ">= 0.9",
            "Cilibrasi and Vitányi (2005), after the book's Sec. 12.6 on information distance: "
            "compression-based clustering recovers languages, authors and species",
        ),
        ClaimSpec(
            "learning is compression: bits per character of the LSTM-driven arithmetic coder on "
            "held-out Shakespeare minus the better of zlib and bz2, actually encoded and decoded",
            "< 0",
            "Ch. 1 and 7: the best compressor is the best predictor; arithmetic coding turns "
            "predictions into code with at most 2 bits of overhead",
        ),
    ],
    keeps=[
        "upper bounds on K by real compressors (zlib, bz2, lzma) and by an arithmetic coder driven "
        "by a learned model, every length measured by encoding, not estimated",
        "the counting argument checked exhaustively: every n-bit string encoded",
        "NCD with three real compressors (zlib, bz2, lzma) and clustering without hand-made features",
    ],
    shrinks=[
        "the counting check enumerates all 4,096 strings of n = 12 bits (coded by an adaptive "
        "order-1 binary model) rather than arbitrary n",
        "the learned model is char-rnn's one-layer LSTM (256 units) trained for 400 steps; the "
        "held-out text is the first 20,000 characters of the test plays",
        "NCD on 6 excerpts of each source, 4 kB each",
    ],
    figures={
        "Theorem (counting)": "#{x ∈ {0,1}^n : K(x) < n − k} < 2^(n−k)",
        "NCD (Cilibrasi, Vitányi 2005)": "(C(xy) − min(C(x), C(y))) / max(C(x), C(y))",
    },
    notes=(
        "The arithmetic coder's output lengths are whole bytes for files but bit-exact in the "
        "counting check (its bit stream before padding). The learned coder and the decoder run "
        "the LSTM step by step through the same calls, so their float probabilities, and the "
        "integer frequencies ``quantize`` makes of them, are identical; the decoded text is "
        "compared with the original. Compressed sizes of zlib, bz2 and lzma are of the same "
        "held-out text's UTF-8 bytes (ASCII here, one byte per character). "
        "The clustering claim does not hold, for a reason the NCD matrix shows: random byte "
        "strings share nothing with each other either, so they sit at NCD ≈ 0.99 from one "
        "another and ≈ 1.0 from everything else and never form a tight group, while "
        "Shakespeare (≈ 0.85 within) and Python (≈ 0.82 within) are ≈ 0.90 apart. Average "
        "linkage therefore joins Shakespeare with Python before the random strings join each "
        "other, and no cut of the tree gives three clusters: at most two, {Shakespeare, Python} "
        "and {random}, purity 12/18. The distances do separate the two real sources: every "
        "item's nearest neighbour comes from its own source (recorded as "
        "``ncd_nearest_neighbour_same_source``). The run also clusters with zlib and bz2 "
        "(``ncd_purity_by_compressor``): on seeds 0-2 zlib gives 0.67 as lzma does and bz2 gives "
        "1.00. The claim stays on lzma, the compressor it named before any run; bz2's purity is "
        "recorded, not claimed, and the matrix shows why it is no better evidence: bz2 puts an "
        "item at about 0.2 from itself and two random strings at about 0.9 from each other, below "
        "their 1.05 to the texts, an effect of its block overhead on 4 kB inputs rather than "
        "information the random strings share. "
        "Claim 4 compares as the catalog states it, and the comparison is not even: the LSTM "
        "learned from the training text, while zlib and bz2 see only the held-out 20,000 "
        "characters (and the LSTM's own size, which a two-part code would add, is not counted). "
        "Since 2026-11-29 the run also records each compressor primed with the last 800,000 "
        "characters of the training text, the held-out text's extra compressed size "
        "(``held_out_bits_per_char_primed_with_training_text``), an upper bound on K(test | "
        "train). Primed, bz2 beats the 400-step LSTM: 2.44 bits per character against the LSTM's "
        "2.62 to 2.63 on seeds 0-2 (the held-out text is the same on every seed); lzma primed gives 2.70 and "
        "zlib, which sees only the last 32 kB, 3.29. The claim is kept as the catalog words it, "
        "and this is the number to read beside it: with equal access to the training text, this "
        "small LSTM is not yet the best compressor here. "
        "Throughput, measured in development with plain Python on one thread of a shared 2-core Xeon "
        "CPU (the AMD EPYC host of the committed runs is slower): the order-2 "
        "context-count coder encodes 200 kB of Shakespeare at about 240 kB/s and decodes at "
        "about 150 kB/s, and the LSTM-driven ``CharModelCoder`` (256 units, 82 characters) "
        "codes about 1,700 characters/s each way (3,000 characters)."
    ),
)


# ---- the learned coder -----------------------------------------------------------------------------


class CharModelCoder:
    """A ``NextSymbolModel`` from a character LM: before each character, the model's softmax,
    quantized to integer frequencies; the first character is coded with uniform frequencies."""

    def __init__(self, model: nn.Module, vocab_size: int) -> None:
        self.model, self.alphabet = model.eval(), vocab_size
        self.name = f"char-lstm-{vocab_size}"
        self.reset()

    def reset(self) -> None:
        self.state = None
        self.freq = quantize(np.full(self.alphabet, 1.0 / self.alphabet))

    def frequencies(self) -> np.ndarray:
        return self.freq

    @torch.no_grad()
    def update(self, symbol: int) -> None:
        device = next(self.model.parameters()).device
        logits, self.state = self.model(torch.tensor([[symbol]], device=device), self.state)
        self.freq = quantize(torch.softmax(logits[0, -1].double(), dim=-1).cpu().numpy())


# ---- the counting argument ----------------------------------------------------------------------------


def incompressible_shares(n: int) -> list[float]:
    """For k = 1 … n − 1: the share of all n-bit strings whose arithmetic code (adaptive order-1
    binary model, bits before byte padding) is shorter than n − k bits."""
    model = AdaptiveContextModel(order=1, alphabet=2)
    lengths = np.array([len(encode_bits([(x >> i) & 1 for i in range(n)], model)) for x in range(2**n)])
    return [float((lengths < n - k).mean()) for k in range(1, n)]


def cluster_purity(distances: np.ndarray, labels: list[int], clusters: int) -> tuple[float, np.ndarray]:
    """Average-linkage clusters of a distance matrix, and their purity: the share of items in
    their cluster's majority label."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    condensed = squareform(distances - np.diag(np.diag(distances)), checks=False)
    tree = linkage(condensed, method="average")
    assigned = fcluster(tree, clusters, criterion="maxclust")
    majority = sum(np.bincount(np.array(labels)[assigned == c]).max() for c in np.unique(assigned))
    return majority / len(labels), tree


def ncd_clustering(
    items: list[bytes], labels: list[int], compressor: str
) -> tuple[np.ndarray, float, np.ndarray, float]:
    """The NCD matrix under one compressor, the purity of its three average-linkage clusters,
    the tree, and the share of items whose nearest other item comes from their own source."""
    distances = distance_matrix(items, compressor)
    purity, tree = cluster_purity(distances, labels, 3)
    off_diagonal = distances + np.diag(np.full(len(items), np.inf))
    nearest_same = float(np.mean(np.array(labels)[off_diagonal.argmin(1)] == np.array(labels)))
    return distances, purity, tree, nearest_same


# ---- the experiment ------------------------------------------------------------------------------------


PRIMING_CHARS = 800_000  # training text a compressor may draw on: within bz2's 900 kB block


@dataclass(frozen=True)
class Config:
    random_bytes: int = 100_000
    counting_bits: int = 12
    excerpts: int = 6  # per source
    excerpt_bytes: int = 4000
    hidden: int = 256
    seq_len: int = 100
    batch: int = 64
    steps: int = 400
    lr: float = 3e-3
    held_out_chars: int = 20_000

    def validate(self) -> None:
        for name in ("random_bytes", "excerpts", "excerpt_bytes", "hidden", "seq_len", "batch", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 2 <= self.counting_bits <= 16:
            raise ValueError(
                f"counting_bits must lie in [2, 16] (all 2^n strings are encoded), got {self.counting_bits}"
            )
        if self.excerpts < 2:
            raise ValueError(f"excerpts must be >= 2 per source to cluster, got {self.excerpts}")
        if self.held_out_chars < 100:
            raise ValueError(f"held_out_chars must be >= 100, got {self.held_out_chars}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


PRESETS = {
    "default": Config(),
    "quick": Config(
        random_bytes=2000,
        counting_bits=6,
        excerpts=2,
        excerpt_bytes=500,
        hidden=16,
        batch=8,
        steps=5,
        held_out_chars=300,
    ),
}


def reproduce(cfg: Config, run: Run) -> None:
    from landmarks.data.text import encode_chars, text_split
    from landmarks.papers import char_rnn

    cfg.validate()
    rng = run.rng("bytes")

    # 1. Random bytes against every compressor.
    noise = rng.integers(0, 256, cfg.random_bytes, dtype=np.uint8).tobytes()
    ratios = {name: compressed_size(noise, name) / len(noise) for name in COMPRESSORS}
    ratios["arithmetic (order 0)"] = len(compress(noise, AdaptiveContextModel(0))) / len(noise)
    run.log("random bytes, compressed / original: " + ", ".join(f"{k} {v:.4f}" for k, v in ratios.items()))

    # 2. The counting argument, every n-bit string encoded.
    shares = incompressible_shares(cfg.counting_bits)
    scaled = [s * 2 ** (k + 1) for k, s in enumerate(shares)]  # share · 2^k for k = 1 …

    # 3. NCD clusters by source.
    split = text_split(None)
    corpus = split.train
    step = len(corpus) // cfg.excerpts
    texts = [corpus[i * step : i * step + cfg.excerpt_bytes].encode() for i in range(cfg.excerpts)]
    sources = sorted(Path(__file__).resolve().parents[1].rglob("*.py"))
    code = [p.read_bytes()[: cfg.excerpt_bytes] for p in sources if p.stat().st_size >= cfg.excerpt_bytes]
    code = code[: cfg.excerpts]
    randoms = [rng.integers(0, 256, cfg.excerpt_bytes, dtype=np.uint8).tobytes() for _ in range(cfg.excerpts)]
    items, labels = texts + code + randoms, [0] * len(texts) + [1] * len(code) + [2] * len(randoms)
    by_compressor = {name: ncd_clustering(items, labels, name) for name in COMPRESSORS}
    for name, (_, purity, _, nearest_same) in by_compressor.items():
        run.log(
            f"NCD ({name}) clustering of {len(items)} items: purity {purity:.3f}; "
            f"nearest neighbour of the same source {nearest_same:.3f}"
        )
    distances, purity, _, nearest_same = by_compressor["lzma"]  # the claim's compressor

    # 4. A learned model as a compressor (char-rnn's LSTM), encoded and decoded for real.
    data = encode_chars(split)
    recipe = char_rnn.Config(
        hidden=cfg.hidden,
        seq_len=cfg.seq_len,
        batch=cfg.batch,
        steps=cfg.steps,
        lr=cfg.lr,
        warmup=min(30, cfg.steps // 10 + 1),
    )
    model, history = char_rnn.train_char_lstm(run, data.train, len(data.vocab), recipe)
    held_out = data.test[: cfg.held_out_chars].tolist()
    text = data.vocab.decode(held_out).encode()
    coder = CharModelCoder(model, len(data.vocab))
    payload = encode(held_out, coder)
    decoded = decode(payload, len(held_out), coder)
    if decoded != held_out:
        raise AssertionError("the learned coder's decode differs from its input")
    bits = {
        "arithmetic + char LSTM": 8 * len(payload) / len(held_out),
        **{name: 8 * compressed_size(text, name) / len(held_out) for name in COMPRESSORS},
        "arithmetic + order-2 counts": 8 * len(encode(list(text), AdaptiveContextModel(2))) / len(held_out),
    }
    run.log("held-out bits per character: " + ", ".join(f"{k} {v:.3f}" for k, v in bits.items()))
    # The LSTM learned from the training text; the compressors above saw only the held-out text.
    # Given that text too, a compressor's extra output for the held-out part bounds K(test | train).
    context = data.vocab.decode(data.train[-PRIMING_CHARS:].tolist()).encode()
    primed = {
        name: 8 * (compressed_size(context + text, name) - compressed_size(context, name)) / len(held_out)
        for name in COMPRESSORS
    }
    run.log(
        "the same, primed with the training text: " + ", ".join(f"{k} {v:.3f}" for k, v in primed.items())
    )

    run.metric("random_bytes_compressed_share", ratios)
    run.metric("counting_shares", {f"k={k + 1}": s for k, s in enumerate(shares)})
    run.metric("ncd_purity", purity)
    run.metric("ncd_nearest_neighbour_same_source", nearest_same)
    run.metric("ncd_mean_within_and_across", _within_across(distances, labels))
    run.metric("ncd_purity_by_compressor", {name: r[1] for name, r in by_compressor.items()})
    run.metric(
        "ncd_nearest_neighbour_same_source_by_compressor", {name: r[3] for name, r in by_compressor.items()}
    )
    run.metric("held_out_bits_per_char", bits)
    run.metric("held_out_bits_per_char_primed_with_training_text", primed)
    run.metric("char_lstm_train_seconds", round(history.seconds, 2))
    run.metric("crc32_of_held_out_text", zlib.crc32(text))

    run.check(CARD.claims[0], min(ratios.values()))
    run.check(CARD.claims[1], max(scaled))
    run.check(CARD.claims[2], purity)
    run.check(CARD.claims[3], bits["arithmetic + char LSTM"] - min(bits["zlib"], bits["bz2"]))

    _plot_ncd(run, by_compressor, labels)
    _plot_bits(run, bits, shares)


def _within_across(distances: np.ndarray, labels: list[int]) -> dict[str, float]:
    """Mean NCD between distinct items of the same source and of different sources, per source."""
    lab = np.array(labels)
    out = {}
    for source, name in enumerate(("shakespeare", "python", "random")):
        mine = lab == source
        same = distances[np.ix_(mine, mine)][~np.eye(int(mine.sum()), dtype=bool)]
        out[f"{name}_within"] = float(same.mean()) if same.size else float("nan")
        out[f"{name}_to_others"] = float(distances[np.ix_(mine, ~mine)].mean())
    return out


def _plot_ncd(
    run: Run, by_compressor: dict[str, tuple[np.ndarray, float, np.ndarray, float]], labels: list[int]
) -> None:
    from scipy.cluster.hierarchy import dendrogram

    from landmarks.plots import plt

    names = ["Shakespeare", "Python", "random"]
    tick = [f"{names[label]} {i}" for i, label in enumerate(labels)]
    fig, axes = plt.subplots(2, len(by_compressor), figsize=(5.5 * len(by_compressor), 10), squeeze=False)
    for column, (compressor, (distances, purity, tree, nearest_same)) in enumerate(by_compressor.items()):
        top, bottom = axes[0, column], axes[1, column]
        image = top.imshow(distances, cmap="viridis", vmin=0, vmax=max(1.0, float(distances.max())))
        top.set_xticks(range(len(tick)), tick, rotation=90, fontsize=6)
        top.set_yticks(range(len(tick)), tick, fontsize=6)
        top.grid(False)
        top.set_title(
            f"NCD ({compressor}): purity {purity:.2f}, nearest same source {nearest_same:.2f}", fontsize=9
        )
        fig.colorbar(image, ax=top, label=f"NCD ({compressor})")
        dendrogram(tree, labels=tick, ax=bottom, leaf_font_size=6, orientation="right")
        bottom.set_title(f"average-linkage tree of the {compressor} NCD matrix", fontsize=9)
    run.save_figure(
        fig, "ncd", "Normalized compression distances under zlib, bz2 and lzma, and the trees they induce"
    )


def _plot_bits(run: Run, bits: dict[str, float], shares: list[float]) -> None:
    from landmarks.plots import plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = list(bits)
    left.barh(names, [bits[n] for n in names])
    left.set_xlabel("bits per character, held-out Shakespeare")
    ks = range(1, len(shares) + 1)
    right.semilogy(ks, [max(s, 1e-6) for s in shares], "o-", label="measured share")
    right.semilogy(ks, [2.0**-k for k in ks], "--", label="bound 2^-k")
    right.set_xlabel("k: bits saved")
    right.set_ylabel("share of n-bit strings")
    right.legend()
    run.save_figure(fig, "bits", "Learned vs general-purpose compression, and the counting bound")
