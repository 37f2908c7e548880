"""Our BPE's merges loaded into the libraries people use, for parity tests and speed
comparisons. Neither library is needed by ``landmarks`` itself (they are in the test extra)."""

from __future__ import annotations

from typing import Any

from landmarks.tokenizers.bpe import GPT2_PATTERN, ByteLevelBPE, bytes_to_unicode

__all__ = ["to_hf_tokenizer", "to_tiktoken"]


def to_hf_tokenizer(tok: ByteLevelBPE) -> Any:
    """A Hugging Face ``tokenizers.Tokenizer`` with the same vocabulary and merges, GPT-2's
    byte-level pre-tokenizer (no prefix space) and decoder."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    hf = Tokenizer(models.BPE(vocab=dict(tok.vocab), merges=list(tok.merges)))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    if tok.special_tokens:
        hf.add_special_tokens([AddedToken(t, special=True) for t in tok.special_tokens])
    return hf


def to_tiktoken(tok: ByteLevelBPE) -> Any:
    """A ``tiktoken.Encoding`` from the same tokens: each token's bytes ranked by its id, which
    for byte-level BPE is its merge order."""
    import tiktoken

    decoder = {c: b for b, c in bytes_to_unicode().items()}
    ranks = {
        bytes(decoder[c] for c in token): i
        for token, i in tok.vocab.items()
        if token not in tok.special_tokens
    }
    return tiktoken.Encoding(
        name="landmarks-bpe",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={t: tok.vocab[t] for t in tok.special_tokens},
    )
