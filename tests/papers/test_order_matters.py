"""order-matters: set2set is the paper's equations and permutation invariant, the whole
Read-Process-Write model's answer does not depend on the listing, and a quick run works."""

from __future__ import annotations

import json

import pytest
import torch

from landmarks.cli import main
from landmarks.data.sorting import SortingTask
from landmarks.nn.pointer import Set2Set, pointer_targets
from landmarks.papers import order_matters as om
from landmarks.papers.order_matters import ReadProcessWrite, numbers, shuffle_sets
from landmarks.papers.pointer_networks import pointer_loss


def _batch(n: int = 16, lo: int = 3, hi: int = 7):
    return SortingTask(lo, hi).sample(n, torch.Generator().manual_seed(0))


def test_set2set_shapes_and_zero_steps() -> None:
    torch.manual_seed(0)
    memory = torch.randn(4, 6, 8)
    q, a = Set2Set(8, 3)(memory)
    assert q.shape == (4, 16) and a.shape == (4, 6)
    torch.testing.assert_close(a.sum(-1), torch.ones(4))
    q0, _ = Set2Set(8, 0)(memory)
    assert q0.shape == (4, 16) and not q0.any()  # q*_0 = 0: nothing read yet
    with pytest.raises(ValueError, match="steps"):
        Set2Set(8, -1)


def test_set2set_follows_eqs_3_to_7() -> None:
    torch.manual_seed(0)
    s2s = Set2Set(5, 2).double()
    memory = torch.randn(3, 4, 5, dtype=torch.float64)
    q_star = torch.zeros(3, 10, dtype=torch.float64)
    h = c = torch.zeros(3, 5, dtype=torch.float64)
    cell = torch.nn.LSTMCell(10, 5).double()
    cell.load_state_dict(s2s.lstm.state_dict())
    for _ in range(2):
        h, c = cell(q_star, (h, c))  # q_t = LSTM(q*_{t-1})
        a = torch.softmax(torch.einsum("bnd,bd->bn", memory, h), -1)  # e = m · q, softmax
        r = torch.einsum("bn,bnd->bd", a, memory)  # r = Σ a m
        q_star = torch.cat([h, r], -1)
    torch.testing.assert_close(s2s(memory)[0], q_star)


def test_set2set_is_permutation_invariant_and_ignores_padding() -> None:
    torch.manual_seed(0)
    s2s = Set2Set(8, 4)
    memory = torch.randn(5, 7, 8)
    perm = torch.randperm(7)
    torch.testing.assert_close(s2s(memory)[0], s2s(memory[:, perm])[0], atol=1e-5, rtol=0)
    valid = torch.arange(7)[None, :] < torch.tensor([7, 5, 3, 6, 2])[:, None]
    garbage = memory.masked_fill(~valid[..., None], 100.0)  # padding content must not matter
    torch.testing.assert_close(s2s(memory, valid)[0], s2s(garbage, valid)[0])


def test_rpw_encoding_and_answer_do_not_depend_on_the_listing() -> None:
    torch.manual_seed(0)
    model = ReadProcessWrite(16, 3, 16).eval()
    batch = _batch()
    shuffled, perm = shuffle_sets(batch, torch.Generator().manual_seed(1))
    # the shuffled target still sorts the shuffled values
    for v, t, n in zip(shuffled.values, shuffled.target, shuffled.lengths.tolist()):
        assert (v[t[:n]].diff() >= 0).all()
    _, _, q = model.encode(numbers(batch.values), batch.lengths)
    _, _, q2 = model.encode(numbers(shuffled.values), shuffled.lengths)
    torch.testing.assert_close(q, q2, atol=1e-5, rtol=0)
    predicted, _ = model.solve(numbers(batch.values), batch.lengths)
    predicted2, _ = model.solve(numbers(shuffled.values), shuffled.lengths)
    back = torch.where(predicted2 >= 0, perm.gather(1, predicted2.clamp(min=0)), -1)
    assert torch.equal(back, predicted)


def test_writer_never_points_at_padding_and_beam_one_is_greedy() -> None:
    torch.manual_seed(0)
    model = ReadProcessWrite(16, 2, 16).eval()
    batch = _batch(24)
    x = numbers(batch.values)
    greedy, lengths = model.solve(x, batch.lengths)
    beamed, beam_lengths = model.solve(x, batch.lengths, beam=1)
    assert torch.equal(greedy, beamed) and torch.equal(lengths, beam_lengths)
    wide, _ = model.solve(x, batch.lengths, beam=3)
    for out in (greedy, wide):
        for row, n in zip(out.tolist(), batch.lengths.tolist()):
            assert all(i < n for i in row)


def test_gradient_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    model = ReadProcessWrite(16, 2, 16)
    batch = _batch()
    slots = pointer_targets(batch.target, batch.lengths)
    loss = pointer_loss(model(numbers(batch.values), batch.lengths, slots), slots)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_config_validation() -> None:
    om.PRESETS["default"].validate()
    om.PRESETS["quick"].validate()
    with pytest.raises(ValueError, match="process steps"):
        om.Config(process_steps=(-1, 5)).validate()
    with pytest.raises(ValueError, match="two different"):
        om.Config(process_steps=(5, 5)).validate()


@pytest.mark.parametrize(
    ("setting", "message"),
    [("process_steps=-1,5", "process steps must be >= 0"), ("n_min=1", "n_min"), ("steps=0", "steps")],
)
def test_bad_settings_exit_2(setting: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "order-matters", "--quick", "--set", setting]) == 2
    assert message in capsys.readouterr().err


def test_quick_run(tmp_path) -> None:
    out = tmp_path / "out"
    assert main(["run", "order-matters", "--quick", "--out", str(out)]) == 0
    result = json.loads((out / "order-matters" / "result.json").read_text())
    assert len(result["claims"]) == len(om.CARD.claims)
    assert {p["file"] for p in result["plots"]} == {"accuracy_by_process_steps.png"}
    assert result["metrics"]["set_encoding_max_abs_difference"] <= 1e-5
    assert result["metrics"]["rpw_same_answer_after_shuffling"] == 1.0
