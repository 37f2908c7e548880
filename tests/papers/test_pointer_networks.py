"""pointer-networks: the pointer decoder never repeats or points at padding, beam 1 is greedy,
the losses and metrics measure what they say, and a quick reproduction runs end to end."""

from __future__ import annotations

import json

import pytest
import torch

from landmarks.cli import main
from landmarks.data.geometry import ConvexHullTask, TSPTask, is_valid_tour
from landmarks.nn.pointer import END, PointerAttention, allowed_pointers, pointer_targets
from landmarks.papers import pointer_networks as pn
from landmarks.papers.pointer_networks import PointerNetwork, exact_accuracy, features, pointer_loss


def _model(mask_used: bool = True) -> PointerNetwork:
    torch.manual_seed(0)
    return PointerNetwork(2, 16, 16, 16, mask_used=mask_used).eval()


def _hull_batch(n: int = 24, lo: int = 4, hi: int = 9):
    return ConvexHullTask(lo, hi).sample(n, torch.Generator().manual_seed(1))


def test_pointer_scores_are_eq3_and_respect_the_mask() -> None:
    torch.manual_seed(0)
    att = PointerAttention(5, 4, 3)
    d, e = torch.randn(2, 5), torch.randn(2, 6, 4)
    allowed = torch.ones(2, 6, dtype=torch.bool)
    allowed[0, 2] = False
    u = att.scores(d, att.project_keys(e), allowed)
    # u_j = v^T tanh(W1 e_j + W2 d_i), written out
    expected = torch.tanh(
        e @ att.key_proj.weight.T + att.key_proj.bias + (d @ att.query_proj.weight.T)[:, None]
    )
    expected = (expected @ att.score.weight.T).squeeze(-1)
    assert u[0, 2] == float("-inf")
    torch.testing.assert_close(u[allowed], expected[allowed])


def test_allowed_pointers_end_rules() -> None:
    valid = torch.tensor([[True, True, True, False]])  # END, two elements, padding
    used = torch.tensor([[False, True, False, False]])
    assert allowed_pointers(valid, used, complete=False).tolist() == [[True, False, True, False]]
    assert allowed_pointers(valid, used, complete=True).tolist() == [[False, False, True, False]]
    all_used = torch.tensor([[False, True, True, False]])
    assert allowed_pointers(valid, all_used, complete=True).tolist() == [[True, False, False, False]]


def test_pointer_targets_add_end_and_padding() -> None:
    target = torch.tensor([[2, 0, 1], [1, 0, -1]])
    slots = pointer_targets(target, torch.tensor([3, 2]))
    assert slots.tolist() == [[3, 1, 2, END], [2, 1, END, -1]]


@pytest.mark.parametrize("beam", [1, 3])
def test_hull_outputs_never_repeat_and_never_point_at_padding(beam: int) -> None:
    batch = _hull_batch()
    predicted, lengths = _model().solve(features(batch.points), batch.n_points, complete=False, beam=beam)
    for row, k, n in zip(predicted.tolist(), lengths.tolist(), batch.n_points.tolist()):
        chosen = row[:k]
        assert len(set(chosen)) == len(chosen)  # a used position is never chosen again
        assert all(0 <= i < n for i in chosen)  # never padding
        assert all(i == -1 for i in row[k:])


@pytest.mark.parametrize("beam", [1, 4])
def test_tours_are_valid_permutations(beam: int) -> None:
    batch = TSPTask(6).sample(16, torch.Generator().manual_seed(2))
    tours, lengths = _model().solve(features(batch.points), batch.n_points, complete=True, beam=beam)
    assert lengths.tolist() == [6] * 16
    assert is_valid_tour(tours, 6).all()


def test_beam_width_one_equals_greedy() -> None:
    model = _model()
    batch = _hull_batch(32)
    x = features(batch.points)
    state, memory = model.encode(x, batch.n_points)
    greedy = model.decoder.decode(state, memory, complete=False, beam=1)
    from landmarks.nn.decoding import beam_search

    B, S = memory.valid.shape
    slots, _, _ = beam_search(
        model.decoder.step_fn(False),
        (state[0], state[1], memory.valid.new_zeros(B, S), memory),
        B,
        bos=END,
        eos=END,
        max_len=S,
        beam_size=1,
    )
    ended = slots.eq(END).cumsum(1) > 0
    beamed = torch.where(ended, -1, slots - 1)[:, : S - 1]
    torch.testing.assert_close(
        torch.nn.functional.pad(beamed, (0, S - 1 - beamed.shape[1]), value=-1), greedy[0]
    )


def test_teacher_forcing_matches_step_by_step_decoding() -> None:
    """The fused teacher-forced pass gives the same log-probabilities as the decoding steps."""
    model = _model().double()
    batch = _hull_batch(8)
    x = features(batch.points).double()
    slots = pointer_targets(batch.target, batch.target_len)
    forced = model(x, batch.n_points, slots, complete=False)  # (B, T, n+1)
    state, memory = model.encode(x, batch.n_points)
    step = model.decoder.step_fn(False)
    search = (state[0], state[1], memory.valid.new_zeros(memory.valid.shape), memory)
    fed = torch.full((8,), END)
    for t in range(slots.shape[1]):
        log_p, search = step(fed, search)
        live = slots[:, t] >= 0
        torch.testing.assert_close(log_p[live], forced[live, t])
        fed = slots[:, t].clamp(min=0)


def test_unmasked_decoder_may_repeat() -> None:
    model = _model(mask_used=False)
    valid = torch.ones(1, 4, dtype=torch.bool)
    used = torch.zeros(1, 4, dtype=torch.bool)
    state = (torch.zeros(1, 16), torch.zeros(1, 16))
    memory = model.decoder.memory(torch.randn(1, 3, 16), torch.randn(1, 3, 16), valid[:, 1:])
    step = model.decoder.step_fn(False)
    log_p, (_, _, used, _) = step(torch.tensor([2]), (*state, used, memory))
    assert not used.any() and torch.isfinite(log_p).all()


def test_padding_does_not_change_the_encoding() -> None:
    model = _model().double()
    batch = _hull_batch(6, 4, 6)
    x = features(batch.points).double()
    (h, c), memory = model.encode(x, batch.n_points)
    for i, n in enumerate(batch.n_points.tolist()):
        (h1, c1), m1 = model.encode(x[i : i + 1, :n], batch.n_points[i : i + 1])
        torch.testing.assert_close(h[i], h1[0])
        torch.testing.assert_close(c[i], c1[0])
        torch.testing.assert_close(memory.keys[i, : n + 1], m1.keys[0])


def test_gradient_reaches_every_parameter() -> None:
    model = _model().train()
    batch = _hull_batch(16)
    slots = pointer_targets(batch.target, batch.target_len)
    loss = pointer_loss(model(features(batch.points), batch.n_points, slots, False), slots)
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_exact_accuracy_pads_either_side() -> None:
    target = torch.tensor([[0, 2, 1, -1], [1, 0, -1, -1]])
    assert exact_accuracy(torch.tensor([[0, 2, 1], [1, 0, 2]]), target) == 0.5
    assert exact_accuracy(torch.tensor([[0, 2, 1, -1, -1], [1, 0, -1, -1, -1]]), target) == 1.0


def test_hull_coverage_scores_the_truth_one_and_nonsense_zero() -> None:
    batch = _hull_batch(5)
    truth = batch.target.clone()
    cov = pn.hull_coverage(batch, truth, batch.target_len)
    assert cov == pytest.approx([1.0] * 5)
    repeated = torch.zeros_like(truth)  # the same vertex again and again: not a polygon
    assert pn.hull_coverage(batch, repeated, batch.target_len).tolist() == [0.0] * 5


def test_config_validation() -> None:
    pn.PRESETS["default"].validate()
    pn.PRESETS["quick"].validate()
    with pytest.raises(ValueError, match="beam"):
        pn.Config(beam=0).validate()
    with pytest.raises(ValueError, match="hull_min"):
        pn.Config(hull_min=2).validate()


@pytest.mark.parametrize(("setting", "message"), [("beam=0", "beam must be >= 1"), ("tsp_n=12", "tsp_n")])
def test_bad_settings_exit_2(setting: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "pointer-networks", "--quick", "--set", setting]) == 2
    assert message in capsys.readouterr().err


def test_quick_run(tmp_path) -> None:
    out = tmp_path / "out"
    assert main(["run", "pointer-networks", "--quick", "--out", str(out)]) == 0
    result = json.loads((out / "pointer-networks" / "result.json").read_text())
    assert len(result["claims"]) == len(pn.CARD.claims)
    assert {p["file"] for p in result["plots"]} == {"convex_hulls.png", "tsp_tours.png"}
    assert result["metrics"]["tsp_valid_tour_share"] == {"greedy": 1.0, "beam2": 1.0}
