"""Many-shot ICL: the in-context classification task is seeded and deterministic, its labels
follow the drawn map (flipped, default, random, mixed), the model sees every shot count in one
pass; bad settings exit 2; a quick run writes its result and figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.data.label_maps import InContextClassification
from landmarks.data.synthetic import batches, eval_set
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig
from landmarks.papers.many_shot_icl import PRESETS, label_logits, rank_correlation


def _task(labels: str = "mixed", world: int = 0) -> InContextClassification:
    return InContextClassification(items=12, classes=3, shots=20, world=world, labels=labels)  # type: ignore[arg-type]


def test_batches_are_a_function_of_seed_name_and_step():
    task = _task()
    a, b = batches(task, 0, 8), batches(task, 0, 8)
    for step in (0, 5):
        assert all(torch.equal(u, v) for u, v in zip(a(step), b(step)))
    assert not torch.equal(a(0)[0], a(1)[0])
    assert not torch.equal(a(0)[0], batches(task, 1, 8)(0)[0])
    assert not torch.equal(a(0)[0], batches(_task("random"), 0, 8)(0)[0])  # streams keyed by name
    assert torch.equal(_task().default_map, _task().default_map)
    assert not torch.equal(_task(world=0).default_map, _task(world=1).default_map)


def test_shapes_and_layout():
    task = _task()
    tokens, y = task.sample(5, torch.Generator().manual_seed(0))
    assert tokens.shape == (5, 2 * 20 + 1) == (5, task.sequence_length)
    assert y.shape == (5, 21)
    x = task.queries(tokens)
    assert x.shape == (5, 21)
    assert ((x >= 0) & (x < task.items)).all()
    shown = tokens[:, 1::2] - task.items  # the labels in the context: y₁ … y_K
    assert torch.equal(shown, y[:, :-1])
    assert ((y >= 0) & (y < task.classes)).all()
    counts = torch.bincount(task.default_map, minlength=task.classes)
    assert counts.max() - counts.min() <= 1  # every class used equally often


@pytest.mark.parametrize("labels", ["mixed", "default", "random", "flipped"])
def test_labels_follow_one_map_per_sequence(labels: str):
    task = _task(labels)
    tokens, y = task.sample(256, torch.Generator().manual_seed(1))
    x = task.queries(tokens)
    f0 = task.default_map
    for row_x, row_y in zip(x, y):  # an item keeps one label within a sequence
        for item in row_x.unique():
            assert row_y[row_x == item].unique().numel() == 1
    if labels == "default":
        assert torch.equal(y, f0[x])
    if labels == "flipped":
        assert torch.equal(y, (f0[x] + 1) % task.classes)
        assert not (y == f0[x]).any()
    if labels in ("random", "mixed"):
        agree = (y == f0[x]).float().mean()
        chance = 1 / task.classes
        # random: agrees with f₀ by chance only; mixed: r ~ U(0, 1), so 1 − E[r](1 − 1/C) on average
        want = chance if labels == "random" else 1 - 0.5 * (1 - chance)
        assert abs(float(agree) - want) < 0.06


def test_flip_is_a_derangement_of_the_classes():
    task = _task()
    classes = torch.arange(task.classes)
    flipped = task.flip(classes)
    assert sorted(flipped.tolist()) == classes.tolist()
    assert not (flipped == classes).any()


def test_seen_before_marks_items_already_in_the_context():
    x = torch.tensor([[3, 1, 3, 2, 1, 1]])
    want = torch.tensor([[False, False, True, False, True, True]])
    assert torch.equal(InContextClassification.seen_before(x), want)


def test_label_logits_score_every_shot_count_causally():
    task = _task()
    model = DecoderOnlyTransformer(
        TransformerConfig(
            vocab_size=task.vocab_size,
            block_size=task.sequence_length,
            n_layer=2,
            n_head=2,
            d_model=16,
            head_windows=(2, 0),
        )
    ).eval()
    tokens, _ = eval_set(task, 0, 3)
    logits = label_logits(model, tokens, task.items)
    assert logits.shape == (3, task.shots + 1, task.classes)
    # the prediction after k shots depends on the first k pairs and the query only
    changed = tokens.clone()
    changed[:, 2 * 5 + 1 :] = tokens[:, 2 * 5 + 1 :].flip(0)
    assert torch.allclose(label_logits(model, changed, task.items)[:, :6], logits[:, :6], atol=1e-6)


def test_rank_correlation():
    assert rank_correlation([1, 2, 4, 8], [0.1, 0.2, 0.3, 0.9]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 4, 8], [0.9, 0.3, 0.2, 0.1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 2, 4], [0.5, 0.5, 0.5]) != rank_correlation([1, 2, 4], [0.5, 0.5, 0.5])  # NaN


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "many-shot-icl", "--quick", "--set", "shot_counts=1,2,16"]) == 2
    err = capsys.readouterr().err
    assert "shot count 16 is beyond the context" in err and "shots=8" in err
    assert main(["run", "many-shot-icl", "--quick", "--set", "shot_counts=4,2,1"]) == 2
    assert main(["run", "many-shot-icl", "--quick", "--set", "classes=1"]) == 2
    with pytest.raises(ValueError, match="labels must be one of"):
        InContextClassification(labels="upside-down")  # type: ignore[arg-type]
    PRESETS["default"].validate()


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("many-shot-icl", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "many-shot-icl" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == 4
    curves = saved["metrics"]["by_shots"]
    assert set(curves) == {"random", "default", "flipped"}
    n = len(PRESETS["quick"].shot_counts)
    assert all(len(v) == n for c in curves.values() for v in c.values())
    # with flipped labels, following the flipped map is the accuracy
    assert curves["flipped"]["follows_flipped"] == curves["flipped"]["accuracy"]
    assert (tmp_path / "many-shot-icl" / "many_shot.png").exists()
