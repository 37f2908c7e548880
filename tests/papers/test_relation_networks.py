"""relation-networks: Eq. 1 computed for all pairs at once equals the pair-by-pair sum, is
indifferent to the order of the objects, and a quick run writes its result."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from landmarks.cli import main
from landmarks.data.sort_of_clevr import ANSWERS, QUESTION_SIZE
from landmarks.papers import relation_networks as rn


def _model() -> rn.RelationNetwork:
    torch.manual_seed(0)
    return rn.RelationNetwork(channels=6, g_width=12, f_width=10).eval()


def test_objects_are_cells_tagged_with_coordinates():
    maps = torch.randn(2, 5, 3, 4)
    objects = rn.object_features(maps)
    assert objects.shape == (2, 12, 7)
    assert torch.equal(objects[:, :, :5], maps.flatten(2).transpose(1, 2))
    assert torch.allclose(objects[0, 0, 5:], torch.tensor([-1.0, -1.0]))  # top-left cell
    assert torch.allclose(objects[0, -1, 5:], torch.tensor([1.0, 1.0]))  # bottom-right cell


def test_batched_pairs_equal_the_explicit_sum_over_pairs():
    model = _model()
    objects, question = torch.randn(2, 5, 8), torch.rand(2, QUESTION_SIZE)
    total = torch.zeros(2, 12)
    for i in range(5):
        for j in range(5):  # g on the concatenation [o_i; o_j; q], as Eq. 1 writes it
            pair = torch.cat([objects[:, i], objects[:, j], question], -1)
            total += model.g_rest(model.g_first(pair))
    assert torch.allclose(model.relate(objects, question), model.f(total), atol=1e-5)


def test_relation_network_ignores_the_order_of_objects():
    model = _model()
    objects, question = torch.randn(3, 7, 8), torch.rand(3, QUESTION_SIZE)
    shuffled = objects[:, torch.randperm(7)]
    assert torch.allclose(model.relate(objects, question), model.relate(shuffled, question), atol=1e-5)


def test_models_answer_from_images_and_questions():
    images, questions = torch.rand(4, 3, 32, 32), torch.rand(4, QUESTION_SIZE)
    assert _model()(images, questions).shape == (4, len(ANSWERS))
    baseline = rn.CNNMLP(channels=6, size=32, width=10)
    assert baseline(images, questions).shape == (4, len(ANSWERS))
    for model in (_model(), baseline.eval()):  # seeing once, then answering, is the forward pass
        assert torch.allclose(model(images, questions), model.answer(model.see(images), questions), atol=1e-6)
    logits = _model().train()(images, questions)
    logits.sum().backward()


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("relation-networks", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "relation-networks" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert set(saved["metrics"]["accuracy_by_question"]) == {"RN", "CNN+MLP"}
    for name in ("samples", "accuracy"):
        assert (tmp_path / "relation-networks" / f"{name}.png").exists()


def test_bad_settings_exit_2(capsys):
    assert main(["run", "relation-networks", "--quick", "--set", "size=20"]) == 2
    assert "multiple of 8" in capsys.readouterr().err
    assert main(["run", "relation-networks", "--quick", "--set", "g_width=0"]) == 2
