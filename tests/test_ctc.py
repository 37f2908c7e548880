"""CTC written out: the loss and its gradient equal torch's, the hand-written gradient equals
autograd through the forward recursion, and the decoders find what brute force finds."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from landmarks.metrics import character_error_rate, edit_distance, word_error_rate
from landmarks.nn.ctc import ctc_log_likelihood, ctc_loss, greedy_decode, prefix_beam_search


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    t, b, c = 12, 5, 6
    logits = torch.randn(t, b, c, generator=g, dtype=torch.double)
    # Repeated labels (2, 2), unequal input and target lengths, and an empty transcript.
    targets = torch.tensor([[1, 2, 2, 3], [4, 4, 4, 0], [5, 1, 0, 0], [3, 0, 0, 0], [0, 0, 0, 0]])
    target_lengths = torch.tensor([4, 3, 2, 1, 0])
    input_lengths = torch.tensor([12, 10, 7, 12, 5])
    return logits, targets, input_lengths, target_lengths


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_loss_and_gradient_equal_torch(reduction):
    logits, targets, input_lengths, target_lengths = _batch()
    ours_in = logits.clone().requires_grad_()
    theirs_in = logits.clone().requires_grad_()
    ours = ctc_loss(ours_in.log_softmax(-1), targets, input_lengths, target_lengths, reduction=reduction)
    theirs = F.ctc_loss(
        theirs_in.log_softmax(-1), targets, input_lengths, target_lengths, reduction=reduction
    )
    assert torch.allclose(ours, theirs, atol=1e-6)
    ours.sum().backward()
    theirs.sum().backward()
    assert torch.allclose(ours_in.grad, theirs_in.grad, atol=1e-6)


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_fused_path_equals_the_written_out_recursion(reduction, zero_infinity):
    logits, targets, input_lengths, target_lengths = _batch(3)
    input_lengths = input_lengths.clone()
    input_lengths[0] = 3  # a transcript of 4 symbols in 3 frames: no alignment, an infinite loss
    grads = []
    losses = []
    for fused in (False, True):
        x = logits.clone().requires_grad_()
        loss = ctc_loss(
            x.log_softmax(-1), targets, input_lengths, target_lengths, reduction=reduction,
            zero_infinity=zero_infinity, fused=fused,
        )  # fmt: skip
        losses.append(loss.detach())
        if zero_infinity:
            loss.sum().backward()
            grads.append(x.grad)
    assert torch.allclose(losses[0], losses[1], atol=1e-6, equal_nan=True)
    assert bool(torch.isinf(losses[0]).any()) == (not zero_infinity)
    if zero_infinity:
        assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_loss_equals_torch_in_float32_within_1e_4():
    logits, targets, input_lengths, target_lengths = _batch(1)
    lp = logits.float().log_softmax(-1)
    ours = ctc_loss(lp, targets, input_lengths, target_lengths, reduction="none")
    theirs = F.ctc_loss(lp, targets, input_lengths, target_lengths, reduction="none")
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_hand_written_gradient_equals_autograd_through_the_recursion():
    logits, targets, input_lengths, target_lengths = _batch(2)
    lp = logits.log_softmax(-1).detach()
    a = lp.clone().requires_grad_()
    b = lp.clone().requires_grad_()
    ctc_loss(a, targets, input_lengths, target_lengths, reduction="sum").backward()
    (-ctc_log_likelihood(b, targets, input_lengths, target_lengths)).sum().backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-8)
    assert torch.all(a.grad[5:, 4] == 0)  # no gradient past a sequence's last frame


def test_likelihood_equals_the_sum_over_all_alignments():
    t, c = 4, 3
    lp = torch.randn(t, 1, c, generator=torch.Generator().manual_seed(3), dtype=torch.double).log_softmax(-1)
    by_transcript: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(c), repeat=t):
        merged = [s for i, s in enumerate(path) if s != 0 and (i == 0 or path[i - 1] != s)]
        p = math.exp(sum(lp[i, 0, s].item() for i, s in enumerate(path)))
        by_transcript[tuple(merged)] = by_transcript.get(tuple(merged), 0.0) + p
    for transcript in [(1,), (1, 1), (2, 1), (1, 2, 1), ()]:
        target = torch.tensor([list(transcript) + [0] * (3 - len(transcript))])
        ll = ctc_log_likelihood(lp, target, torch.tensor([t]), torch.tensor([len(transcript)]))
        assert math.isclose(ll.exp().item(), by_transcript.get(transcript, 0.0), rel_tol=1e-9)


def test_impossible_transcript_is_infinite_or_zeroed_as_torch_does():
    lp = torch.randn(3, 1, 4, dtype=torch.double).log_softmax(-1).requires_grad_()
    target = torch.tensor([[1, 1, 2]])  # needs 4 frames: a blank between the two 1s
    loss = ctc_loss(lp, target, torch.tensor([3]), torch.tensor([3]), reduction="sum")
    assert math.isinf(loss.item())
    zeroed = ctc_loss(lp, target, torch.tensor([3]), torch.tensor([3]), reduction="sum", zero_infinity=True)
    zeroed.backward()
    assert zeroed.item() == 0 and torch.all(lp.grad == 0)


def test_greedy_decode_merges_repeats_and_drops_blanks():
    path = torch.tensor([1, 1, 0, 1, 2, 2, 0, 0, 3])
    lp = F.one_hot(path, 4).double().T[None].permute(2, 0, 1).log()  # (T, 1, C)
    assert greedy_decode(lp, torch.tensor([9])) == [[1, 1, 2, 3]]
    assert greedy_decode(lp, torch.tensor([4])) == [[1, 1]]


def test_prefix_beam_search_finds_the_most_probable_transcript():
    # Greedy reads the blank-heavy frames as "" while "1" is more probable in total.
    probs = torch.tensor([[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]], dtype=torch.double)
    lp = probs.log()
    assert greedy_decode(lp[:, None], torch.tensor([2])) == [[]]
    assert prefix_beam_search(lp, beam=4) == [1]  # p("1") = 0.09 + 0.12 + 0.12 = 0.33 > p("") = 0.16
    for seed in range(5):
        lp = torch.randn(5, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.double).log_softmax(
            -1
        )
        totals: dict[tuple[int, ...], float] = {}
        for path in itertools.product(range(3), repeat=5):
            merged = tuple(s for i, s in enumerate(path) if s != 0 and (i == 0 or path[i - 1] != s))
            totals[merged] = totals.get(merged, 0.0) + math.exp(
                sum(lp[i, s].item() for i, s in enumerate(path))
            )
        assert tuple(prefix_beam_search(lp, beam=64)) == max(totals, key=totals.get)


def test_language_model_steers_the_beam():
    lp = torch.tensor([[0.1, 0.5, 0.4]], dtype=torch.double).log()
    assert prefix_beam_search(lp) == [1]
    assert prefix_beam_search(lp, lm=lambda prefix, c: 0.0 if c == 2 else -5.0, lm_weight=1.0) == [2]


def test_error_rates():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], [1, 2]) == 2
    assert character_error_rate(["abc", "de"], ["abd", "de"]) == pytest.approx(1 / 5)
    assert word_error_rate(["the cat sat"], ["the cat sat down"]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="empty"):
        word_error_rate([""], ["x"])
