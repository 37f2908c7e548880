"""relational-rnn: the N-th farthest task's answers, the Relational Memory Core's invariants
(slots are treated alike, gates can hold the memory), gradients, and a quick run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landmarks.cli import main
from landmarks.nn.relational_memory import RelationalMemory
from landmarks.papers import relational_rnn as rr


def test_nth_farthest_answers_by_brute_force():
    k, d = 6, 3
    x, answer, rank = rr.nth_farthest_batch(torch.Generator().manual_seed(0), 200, k, d)
    assert x.shape == (200, k, d + 3 * k)
    vectors, labels = x[..., :d].numpy(), x[..., d : d + k].argmax(-1).numpy()
    reference = x[:, 0, d + k : d + 2 * k].argmax(-1).numpy()
    assert (x[..., d + k :].numpy() == x[:, :1, d + k :].numpy()).all()  # the question on every step
    for b in range(200):
        ref = vectors[b, labels[b] == reference[b]][0]
        distances = np.linalg.norm(vectors[b] - ref, axis=-1)
        nth = np.argsort(-distances)[int(rank[b])]
        assert labels[b, nth] == int(answer[b])
    asks_self = rank == k - 1
    assert asks_self.any()
    assert torch.equal(answer[asks_self], torch.from_numpy(reference)[asks_self])


def test_task_is_deterministic_given_the_generator():
    a = rr.nth_farthest_batch(torch.Generator().manual_seed(3), 8, 4, 2)
    b = rr.nth_farthest_batch(torch.Generator().manual_seed(3), 8, 4, 2)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def _core(**kw) -> RelationalMemory:
    torch.manual_seed(0)
    return RelationalMemory(input_size=5, slots=3, width=8, heads=2, **kw)


def test_memory_starts_as_distinct_rows_and_keeps_its_shape():
    core = _core()
    m0 = core.initial_state(2)
    assert torch.equal(m0[0], torch.eye(3, 8))
    outputs, memory = core(torch.randn(2, 4, 5))
    assert outputs.shape == (2, 4, 24) and memory.shape == (2, 3, 8)
    assert torch.equal(outputs[:, -1], memory.flatten(1))


@pytest.mark.parametrize("gate_style", ["unit", "memory", None])
def test_slots_are_treated_alike(gate_style):
    core = _core(gate_style=gate_style)
    x, memory = torch.randn(2, 5), torch.randn(2, 3, 8)
    perm = torch.tensor([2, 0, 1])
    assert torch.allclose(core.step(x, memory[:, perm]), core.step(x, memory)[:, perm], atol=1e-6)


def test_closed_input_gate_and_open_forget_gate_keep_the_memory():
    core = _core(input_bias=-1e4, forget_bias=1e4)
    memory = torch.randn(2, 3, 8)
    assert torch.allclose(core.step(torch.randn(2, 5), memory), memory)


def test_slots_attend_to_the_input():
    core = _core(gate_style=None)
    memory = torch.randn(1, 3, 8)
    assert not torch.allclose(core.step(torch.zeros(1, 5), memory), core.step(torch.ones(1, 5), memory))


def test_gradients_match_finite_differences():
    core = _core().double()
    x = torch.randn(2, 3, 5, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: core(t)[1], (x,))


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="multiple of heads"):
        RelationalMemory(5, slots=2, width=10, heads=3)
    with pytest.raises(ValueError, match="no slots"):
        RelationalMemory(5, slots=0, width=8, heads=2)


def test_both_cores_answer_a_label():
    cfg = rr.PRESETS["quick"]
    x, _, _ = rr.nth_farthest_batch(torch.Generator().manual_seed(0), 4, cfg.objects, cfg.features)
    for core in ("RMC", "LSTM"):
        assert rr.NthFarthestModel(core, cfg)(x).shape == (4, cfg.objects)


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("relational-rnn", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "relational-rnn" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert (tmp_path / "relational-rnn" / "accuracy.png").exists()


def test_bad_settings_exit_2(capsys):
    assert main(["run", "relational-rnn", "--quick", "--set", "heads=3"]) == 2
    assert "multiple of heads" in capsys.readouterr().err
    assert main(["run", "relational-rnn", "--quick", "--set", "slots=0"]) == 2
    assert "no slots" in capsys.readouterr().err
