"""A toy translation task whose word alignment is known exactly.

Bahdanau, Cho and Bengio (2015), "Neural Machine Translation by Jointly Learning to Align and
Translate", show that a fixed-length encoding (RNNencdec) degrades on long sentences while
attention (RNNsearch) does not, and that the attention weights recover the word alignment,
including the local reorderings of English–French (adjective–noun becomes noun–adjective).
The Transformer (Vaswani et al. 2017) is trained here on the same task. What the toy keeps: a
fixed lexicon, sentences of 5 to 50 words, and local reordering; what it drops: ambiguity,
morphology, and words that translate to zero or several words.

The language:

- Ids are shared by both sides: ``PAD=0``, ``BOS=1``, ``EOS=2``, then ``vocab`` source words
  (ids ``3 .. 3+vocab-1``), then ``vocab`` target words (ids ``3+vocab .. 3+2*vocab-1``),
  so a copied source word is never a correct target word. ``vocab_size = 3 + 2*vocab``.
- The first half of the source words are *nouns*, the rest *modifiers* (adjectives).
- The lexicon is a bijection, source word ``k`` → target word ``lexicon[k]``, a permutation
  fixed by ``lexicon_seed``. It is part of the task's definition, not of the run, so every
  run seed sees the same language.
- Reordering, like English "big red car" → French "voiture grande rouge": every maximal run of
  modifiers immediately followed by a noun moves after that noun, keeping its own order.
  Modifiers with no noun after them stay in place. Each source word yields exactly one target
  word, so the target has the source's length and the alignment is a permutation::

      source   n1  m1  m2  n2  m3          (n: noun, m: modifier)
      target   n1' n2' m1' m2' m3'         (x' = lexicon[x])
      align    0   3   1   2   4           (target position -> source position)

  Equivalently: a noun moves to just after the previous noun (position 0 if none), and a
  modifier with a noun somewhere after it moves one place right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple

import torch

from landmarks.engine.seeding import torch_generator

PAD, BOS, EOS = 0, 1, 2
SPECIALS = 3  # ids below this are PAD, BOS, EOS


class TranslationBatch(NamedTuple):
    src: torch.Tensor  # (B, S) int64 source ids, PAD after src_len
    src_len: torch.Tensor  # (B,) int64 words in each source sentence
    tgt: torch.Tensor  # (B, S+2) int64: BOS, target words, EOS, then PAD
    tgt_len: torch.Tensor  # (B,) int64 = src_len + 2: counts BOS and EOS
    align: torch.Tensor  # (B, S) int64: source position of each target word, -1 on padding

    def to(self, device: str | torch.device) -> TranslationBatch:
        return TranslationBatch(*(t.to(device) for t in self))

    def select(self, index: torch.Tensor) -> TranslationBatch:
        """The rows ``index``, trimmed to their own longest sentence (less padding to compute)."""
        S = int(self.src_len[index].max())
        return TranslationBatch(
            self.src[index, :S],
            self.src_len[index],
            self.tgt[index, : S + 2],
            self.tgt_len[index],
            self.align[index, :S],
        )


@dataclass(frozen=True)
class TranslationTask:
    """Source sentences with lengths uniform in [min_len, max_len] and their translations."""

    vocab: int = 48  # content words per language; the first half are nouns
    min_len: int = 5
    max_len: int = 50
    lexicon_seed: int = 0  # fixes the language; not the run seed

    def __post_init__(self) -> None:
        if self.vocab < 2:
            raise ValueError(f"vocab must be at least 2 (one noun, one modifier), got {self.vocab}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(
                f"need 1 <= min_len <= max_len, got min_len={self.min_len}, max_len={self.max_len}"
            )

    @property
    def name(self) -> str:
        # Lengths shape the stream: tasks for RNNsearch-30 and -50 must not share draws.
        return f"translation-{self.vocab}-{self.min_len}-{self.max_len}-{self.lexicon_seed}"

    @property
    def vocab_size(self) -> int:
        """Size of the shared id space: specials, source words, target words."""
        return SPECIALS + 2 * self.vocab

    @property
    def n_nouns(self) -> int:
        return self.vocab // 2

    @cached_property
    def lexicon(self) -> torch.Tensor:
        """(vocab,) int64: source word k translates to target word lexicon[k]."""
        return torch.randperm(self.vocab, generator=torch_generator(self.lexicon_seed, "lexicon"))

    @cached_property
    def _id_map(self) -> torch.Tensor:
        """(vocab_size,) int64 lookup table: source id -> target id; specials map to themselves."""
        table = torch.arange(self.vocab_size)
        table[SPECIALS : SPECIALS + self.vocab] = SPECIALS + self.vocab + self.lexicon
        return table

    # --- the rule ---------------------------------------------------------------------------

    def is_noun(self, ids: torch.Tensor) -> torch.Tensor:
        """Boolean mask of source nouns (False on specials and modifiers)."""
        return (ids >= SPECIALS) & (ids < SPECIALS + self.n_nouns)

    def translate(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Target words and alignment for PAD-padded source rows, all rows at once.

        src: (B, S) int64. Returns ``tgt`` (B, S), target ids PAD-padded (no BOS/EOS), and
        ``align`` (B, S), the source position of each target word (-1 on padding).
        """
        B, S = src.shape
        pos = torch.arange(S, device=src.device).expand(B, S)  # (B, S)
        word = src >= SPECIALS
        noun = self.is_noun(src)
        # Position of the last noun strictly before i (-1 if none).
        last_noun_upto = torch.where(noun, pos, -1).cummax(dim=1).values  # (B, S)
        prev_noun = torch.cat([torch.full_like(pos[:, :1], -1), last_noun_upto[:, :-1]], dim=1)
        # Is there a noun strictly after i?
        noun_from = noun.flip(1).int().cummax(dim=1).values.flip(1).bool()  # noun at or after i
        noun_after = torch.cat([noun_from[:, 1:], torch.zeros_like(noun_from[:, :1])], dim=1)
        dest = torch.where(noun, prev_noun + 1, torch.where(noun_after, pos + 1, pos))  # (B, S)
        dest = torch.where(word, dest, pos)  # padding stays where it is
        tgt = torch.full_like(src, PAD).scatter(1, dest, self._id_map.to(src.device)[src])
        align = torch.full_like(src, -1).scatter(1, dest, torch.where(word, pos, -1))
        return tgt, align

    def reference_translation(self, src_ids: Sequence[int]) -> list[int]:
        """The rule written as a left-to-right scan over one sentence (no padding, no BOS/EOS).

        An independent statement of what ``translate`` computes, for tests and sanity checks.
        """
        out: list[int] = []
        pending: list[int] = []  # modifiers waiting for a noun
        for w in src_ids:
            if SPECIALS <= w < SPECIALS + self.n_nouns:
                out += [w, *pending]
                pending = []
            elif SPECIALS + self.n_nouns <= w < SPECIALS + self.vocab:
                pending.append(w)
            else:
                raise ValueError(f"id {w} is not a source word (source ids are 3..{2 + self.vocab})")
        out += pending  # trailing modifiers keep their place
        return [int(self._id_map[w]) for w in out]

    # --- sampling ---------------------------------------------------------------------------

    def sample(self, n: int, generator: torch.Generator) -> TranslationBatch:
        src_len = torch.randint(self.min_len, self.max_len + 1, (n,), generator=generator)  # (B,)
        S = int(src_len.max())
        words = torch.randint(SPECIALS, SPECIALS + self.vocab, (n, S), generator=generator)
        valid = torch.arange(S) < src_len[:, None]  # (B, S)
        src = torch.where(valid, words, PAD)
        target, align = self.translate(src)
        tgt = torch.full((n, S + 2), PAD, dtype=torch.int64)
        tgt[:, 0] = BOS
        tgt[:, 1 : S + 1] = target
        tgt[torch.arange(n), src_len + 1] = EOS
        return TranslationBatch(src, src_len, tgt, src_len + 2, align)

    def sorted_batches(self, seed: int, batch_size: int, pool: int = 20) -> Callable[[int], TranslationBatch]:
        """``batch(step)`` of sentences of similar length, as Bahdanau et al. trained (Sec. 4.2:
        sentence pairs sorted by length and split into minibatches).

        Steps come in chunks of ``pool``: a chunk draws ``pool × batch_size`` sentences, sorts them
        by length, cuts them into ``pool`` minibatches and serves those in a shuffled order. The
        length distribution is unchanged; each minibatch is only as long as its own sentences, so
        a recurrent model wastes little time on padding. Deterministic in (seed, step).
        """
        if batch_size < 1 or pool < 1:
            raise ValueError(f"batch_size and pool must be at least 1, got {batch_size} and {pool}")

        @lru_cache(maxsize=2)
        def chunk(c: int) -> tuple[TranslationBatch, torch.Tensor, torch.Tensor]:
            g = torch_generator(seed, self.name, "sorted", c)
            sentences = self.sample(pool * batch_size, g)
            by_length = torch.sort(sentences.src_len, stable=True).indices.view(pool, batch_size)
            return sentences, by_length, torch.randperm(pool, generator=g)

        def batch(step: int) -> TranslationBatch:
            sentences, by_length, order = chunk(step // pool)
            return sentences.select(by_length[order[step % pool]])

        return batch

    # --- words, for reading examples and computing BLEU on strings --------------------------

    def word(self, i: int) -> str:
        """'s12' for source word 12, 't7' for target word 7, '<pad>', '<s>', '</s>'."""
        if i < SPECIALS:
            return ("<pad>", "<s>", "</s>")[i]
        if i < SPECIALS + self.vocab:
            return f"s{i - SPECIALS}"
        if i < self.vocab_size:
            return f"t{i - SPECIALS - self.vocab}"
        raise ValueError(f"id {i} is outside the vocabulary (0..{self.vocab_size - 1})")

    def words(self, ids: Sequence[int] | torch.Tensor) -> list[str]:
        """One row of ids as words: BOS and PAD dropped, stopping at the first EOS."""
        out = []
        for i in ids.tolist() if isinstance(ids, torch.Tensor) else ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.word(int(i)))
        return out

    def sentences(self, ids: torch.Tensor) -> list[list[str]]:
        """(B, L) ids -> B word lists, as ``words`` does for each row."""
        return [self.words(row) for row in ids.tolist()]
