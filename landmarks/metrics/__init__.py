"""Evaluation metrics, written from their papers and held to the reference implementations.

- ``bleu``: BLEU (Papineni et al., 2002) with sacrebleu's recipe (Post, 2018): the 13a
  tokenizer, its smoothing methods and its 0-100 scale; equal to ``sacrebleu`` within 1e-6.
- ``error_rate``: the edit distance, and character and word error rates of transcripts.

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
from landmarks.metrics.error_rate import character_error_rate, edit_distance, word_error_rate

__all__ = [
    "BLEUScore",
    "bleu_from_statistics",
    "character_error_rate",
    "corpus_bleu",
    "corpus_bleu_tokens",
    "edit_distance",
    "sentence_bleu",
    "tokenize_13a",
    "word_error_rate",
]
