"""Evaluation metrics, written from their papers and held to the reference implementations.

- ``bleu``: BLEU (Papineni et al., 2002) with sacrebleu's recipe (Post, 2018): the 13a
  tokenizer, its smoothing methods and its 0-100 scale; equal to ``sacrebleu`` within 1e-6.

Importing this package imports no torch.
"""

from landmarks.metrics.bleu import (
    BLEUScore,
    bleu_from_statistics,
    corpus_bleu,
    corpus_bleu_tokens,
    sentence_bleu,
    tokenize_13a,
)

__all__ = [
    "BLEUScore",
    "bleu_from_statistics",
    "corpus_bleu",
    "corpus_bleu_tokens",
    "sentence_bleu",
    "tokenize_13a",
]
