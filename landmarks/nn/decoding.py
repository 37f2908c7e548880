"""Turning next-token distributions into sequences: greedy, sampling, and beam search.

Shared by every sequence model here (char-rnn, the translation models, pointer networks, the
decoder-only transformer). A model plugs in through a *step function*:

    step(tokens, state) -> (log_probs, state)

``tokens`` (N,) are the tokens just emitted, ``log_probs`` (N, V) the model's log-distribution
over the next one, and ``state`` any nesting of tuples, lists and dicts of tensors whose first
dimension is N (recurrent states, KV caches as tensors, encoder outputs). Beam search reorders
that first dimension as hypotheses survive or die, so a step function never needs to know about
beams.

Sampling (Holtzman et al. 2020 for nucleus sampling; Fan et al. 2018 for top-k):
    temperature τ   p_i ∝ exp(z_i / τ): τ < 1 sharpens, τ > 1 flattens
    top-k           keep the k most likely tokens
    top-p           keep the smallest set of most likely tokens whose mass reaches p

Beam search keeps the ``beam_size`` best partial hypotheses by total log-probability; a
hypothesis that has emitted EOS stays in the beam with its score frozen. The winner is chosen by
the length-normalized score log P(Y|X) / lp(Y) with Wu et al.'s (2016, GNMT) penalty
lp(Y) = ((5 + |Y|) / 6)^α; α = 0 ranks by raw log-probability, which favours short outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "beam_search",
    "filter_top_k",
    "filter_top_p",
    "greedy_search",
    "length_penalty",
    "reorder_state",
    "sample_next",
]

State = Any
StepFn = Callable[[Tensor, State], tuple[Tensor, State]]


# ---- one token at a time ---------------------------------------------------------------------


def filter_top_k(logits: Tensor, k: int) -> Tensor:
    """Logits (..., V) with all but the k largest set to −inf."""
    if k < 1:
        raise ValueError(f"top_k must be >= 1, got {k}")
    if k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest logit
    return logits.masked_fill(logits < kth, float("-inf"))


def filter_top_p(logits: Tensor, p: float) -> Tensor:
    """Logits (..., V) restricted to the nucleus: the most likely tokens whose mass reaches p."""
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = probs.cumsum(-1) - probs  # mass of the tokens ranked above each one
    drop_sorted = mass_before >= p  # the nucleus is complete before this token
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def sample_next(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One token id per row of logits (N, V) → (N,)."""
    if greedy:
        return logits.argmax(-1)
    if not temperature > 0.0:
        raise ValueError(
            f"temperature must be > 0 (use greedy decoding for the limit τ → 0), got {temperature}"
        )
    logits = logits.float() / temperature
    if top_k is not None:
        logits = filter_top_k(logits, top_k)
    if top_p is not None:
        logits = filter_top_p(logits, top_p)
    probs = torch.softmax(logits, dim=-1)
    if generator is not None and generator.device != probs.device:
        # a CPU generator fixes the numbers on every device: draw the token on the CPU
        return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


# ---- whole sequences through a step function ---------------------------------------------------


def reorder_state(state: State, index: Tensor) -> State:
    """Keep rows ``index`` of every tensor in ``state`` (first dimension), recursively."""
    if isinstance(state, Tensor):
        return state.index_select(0, index)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a NamedTuple keeps its type
        return type(state)(*(reorder_state(s, index) for s in state))
    if isinstance(state, tuple):
        return tuple(reorder_state(s, index) for s in state)
    if isinstance(state, list):
        return [reorder_state(s, index) for s in state]
    if isinstance(state, dict):
        return {k: reorder_state(v, index) for k, v in state.items()}
    if state is None:
        return None
    if callable(getattr(state, "reorder", None)):  # a KVCache: reordered in place
        state.reorder(index)
        return state
    raise TypeError(
        f"beam search can reorder tensors, KV caches, tuples, lists and dicts, not {type(state).__name__}"
    )


def greedy_search(
    step: StepFn,
    state: State,
    batch: int,
    *,
    bos: int,
    eos: int,
    max_len: int,
    device: torch.device | None = None,
) -> tuple[Tensor, Tensor]:
    """The most likely token at every step, until EOS or ``max_len`` tokens.

    Returns (tokens (B, L) without BOS, EOS included where emitted, then padded with EOS;
    lengths (B,) counting the EOS).
    """
    tokens = torch.full((batch,), bos, dtype=torch.long, device=device)
    out, done = [], torch.zeros(batch, dtype=torch.bool, device=device)
    lengths = torch.full((batch,), max_len, dtype=torch.long, device=device)
    for t in range(max_len):
        log_probs, state = step(tokens, state)
        tokens = log_probs.argmax(-1).masked_fill(done, eos)
        out.append(tokens)
        newly = (tokens == eos) & ~done
        lengths[newly] = t + 1
        done |= newly
        if bool(done.all()):
            break
    return torch.stack(out, dim=1), lengths


def length_penalty(length: Tensor, alpha: float) -> Tensor:
    """lp(Y) = ((5 + |Y|) / 6)^α  (Wu et al. 2016, Eq. 14)."""
    return ((5.0 + length.float()) / 6.0) ** alpha


def beam_search(
    step: StepFn,
    state: State,
    batch: int,
    *,
    bos: int,
    eos: int,
    max_len: int,
    beam_size: int = 4,
    alpha: float = 0.6,
    device: torch.device | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The best of ``beam_size`` hypotheses per input, by length-normalized log-probability.

    ``state`` holds one row per input (B, ...); it is repeated for the beams here. Returns
    (tokens (B, L) without BOS, padded with EOS after the first EOS; lengths (B,) counting the EOS;
    scores (B,), the total log-probability of each chosen hypothesis).
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    k = beam_size
    rows = torch.arange(batch, device=device).repeat_interleave(k)  # (B·K,): input of each beam row
    state = reorder_state(state, rows)
    tokens = torch.full((batch * k,), bos, dtype=torch.long, device=device)
    # Only the first beam starts alive, so the K beams do not begin as K copies of one hypothesis.
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    finished = torch.zeros(batch, k, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, k, dtype=torch.long, device=device)
    history = torch.empty(batch, k, 0, dtype=torch.long, device=device)

    for _ in range(max_len):
        log_probs, state = step(tokens, state)  # (B·K, V)
        vocab = log_probs.shape[-1]
        log_probs = log_probs.float().view(batch, k, vocab)
        # A finished hypothesis may only "emit" EOS again, at no cost: its score stays frozen.
        frozen = torch.full_like(log_probs, float("-inf"))
        frozen[..., eos] = 0.0
        log_probs = torch.where(finished[..., None], frozen, log_probs)
        candidates = (scores[..., None] + log_probs).view(batch, k * vocab)  # (B, K·V)
        scores, flat = candidates.topk(k, dim=-1)  # (B, K) each
        parent, tokens_bk = flat // vocab, flat % vocab  # which beam it extends, with which token
        history = torch.cat(
            [history.gather(1, parent[..., None].expand(-1, -1, history.shape[2])), tokens_bk[..., None]], 2
        )
        was_finished = finished.gather(1, parent)
        lengths = lengths.gather(1, parent) + (~was_finished).long()
        finished = was_finished | (tokens_bk == eos)
        index = (parent + torch.arange(batch, device=device)[:, None] * k).view(-1)  # (B·K,) rows to keep
        state = reorder_state(state, index)
        tokens = tokens_bk.view(-1)
        if bool(finished.all()):
            break

    normalized = scores / length_penalty(lengths, alpha)  # (B, K)
    normalized = normalized.masked_fill(~torch.isfinite(scores), float("-inf"))
    best = normalized.argmax(-1)  # (B,)
    pick = best[:, None]
    out = history.gather(1, pick[..., None].expand(-1, -1, history.shape[2])).squeeze(1)  # (B, L)
    return out, lengths.gather(1, pick).squeeze(1), scores.gather(1, pick).squeeze(1)


def search(
    step: StepFn,
    state: State,
    batch: int,
    *,
    bos: int,
    eos: int,
    max_len: int,
    beam: int = 1,
    alpha: float = 0.6,
    device: torch.device | None = None,
) -> tuple[Tensor, Tensor]:
    """Greedy search when ``beam`` is 1, beam search otherwise: (tokens (B, L), lengths (B,)) as
    both return them (EOS counted in the length where emitted)."""
    args = {"bos": bos, "eos": eos, "max_len": max_len, "device": device}
    if beam == 1:
        return greedy_search(step, state, batch, **args)
    tokens, lengths, _ = beam_search(step, state, batch, beam_size=beam, alpha=alpha, **args)
    return tokens, lengths


def token_lists(tokens: Tensor, lengths: Tensor, eos: int) -> list[list[int]]:
    """Each row's tokens up to its length, without the final EOS: what a translation is."""
    out = []
    for row, n in zip(tokens.tolist(), lengths.tolist()):
        words = row[:n]
        out.append(words[:-1] if words and words[-1] == eos else words)
    return out
