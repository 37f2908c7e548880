"""Evaluation metrics, written from their papers and held to the reference implementations.

- ``bleu``: BLEU (Papineni et al., 2002) with sacrebleu's recipe (Post, 2018): the 13a
  tokenizer, its smoothing methods and its 0-100 scale; equal to ``sacrebleu`` within 1e-6.
- ``chrf``: chrF and chrF++ (Popović, 2015, 2017); equal to ``sacrebleu`` within 1e-6.
- ``rouge``: ROUGE-N, ROUGE-L and ROUGE-Lsum (Lin, 2004); equal to ``rouge-score``.
- ``error_rate``: the edit distance, and character and word error rates of transcripts
  (equal to ``jiwer``).
- ``sample_quality`` (import it by name; it needs torch): a fixed classifier, trained once per
  seed on the procedural shapes and cached, judges an image generator's class-conditional
  samples by class accuracy and a Fréchet distance in its features.

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
from landmarks.metrics.chrf import CHRFScore, corpus_chrf, sentence_chrf
from landmarks.metrics.error_rate import character_error_rate, edit_distance, word_error_rate
from landmarks.metrics.rouge import RougeScore, rouge, rouge_tokens

__all__ = [
    "BLEUScore",
    "CHRFScore",
    "RougeScore",
    "bleu_from_statistics",
    "character_error_rate",
    "corpus_bleu",
    "corpus_bleu_tokens",
    "corpus_chrf",
    "edit_distance",
    "rouge",
    "rouge_tokens",
    "sentence_bleu",
    "sentence_chrf",
    "tokenize_13a",
    "word_error_rate",
]
