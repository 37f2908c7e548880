"""cs231n: every hand-written backward pass against numerical gradients and torch autograd,
im2col/col2im against torch's unfold/fold, the update rules against torch.optim, kNN, and a
quick reproduction through the CLI."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from landmarks.cli import main
from landmarks.papers import cs231n

f64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- the course's gradient checks, layer by layer ---------------------------------------------


LAYERS = [case.name for case in cs231n.layer_cases(_gen())]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", LAYERS)
def test_layer_gradients_match_numerical_and_autograd(name, seed):
    g = _gen(seed)
    case = next(c for c in cs231n.layer_cases(g) if c.name == name)
    result = cs231n.check_gradients(case, g)
    assert result["numerical_rel_error"] < cs231n.GRADCHECK_REL_ERROR
    assert result["autograd_max_abs_diff"] < cs231n.AUTOGRAD_MAX_ABS_DIFF
    assert result["forward_max_abs_diff"] < 1e-12


@pytest.mark.parametrize("index, name", [(0, "two_layer_net"), (1, "convnet")])
def test_model_gradients_match_autograd(index, name):
    g = _gen(3)
    case = cs231n.model_cases(g)[index]
    assert case.name == name
    result = cs231n.check_gradients(case, g)
    assert result["autograd_max_abs_diff"] < cs231n.AUTOGRAD_MAX_ABS_DIFF
    assert result["numerical_rel_error"] < 1e-6  # kinks: the course accepts more for whole models


def test_numerical_gradient_of_a_known_function():
    x = torch.tensor([[0.5, -1.0], [2.0, 3.0]], dtype=f64)
    grad = cs231n.numerical_gradient(lambda: (x**3).sum(), x)
    torch.testing.assert_close(grad, 3 * x**2, atol=1e-8, rtol=0)
    assert torch.equal(x, torch.tensor([[0.5, -1.0], [2.0, 3.0]], dtype=f64))  # restored


def test_rel_error_is_the_courses_elementwise_max():
    a, b = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([1.1, 0.0, 2.0])
    assert cs231n.rel_error(a, b) == pytest.approx(0.1 / 2.1)
    assert cs231n.rel_error(torch.zeros(3), torch.zeros(3)) == 0.0  # both zero: no division by 0
    assert cs231n.rel_error(torch.tensor([1e-9]), torch.tensor([0.0])) == pytest.approx(0.1)  # floor 1e-8


# ---- convolution and pooling: im2col by index arithmetic --------------------------------------------


@pytest.mark.parametrize("stride, pad, field", [(1, 0, 3), (1, 1, 3), (2, 1, 3), (2, 2, 5), (3, 0, 2)])
def test_im2col_and_col2im_equal_unfold_and_fold(stride, pad, field):
    x = torch.randn(2, 3, 9, 7, generator=_gen(), dtype=f64)
    x_pad = F.pad(x, (pad, pad, pad, pad))
    index = cs231n.im2col_indices(3, 9 + 2 * pad, 7 + 2 * pad, field, field, stride)
    cols = cs231n.im2col(x_pad, index)
    torch.testing.assert_close(cols, F.unfold(x, field, padding=pad, stride=stride), atol=0, rtol=0)
    back = cs231n.col2im(cols, index, x_pad.shape)
    folded = F.fold(cols, (9, 7), field, padding=pad, stride=stride)
    torch.testing.assert_close(back[:, :, pad : pad + 9, pad : pad + 7], folded, atol=1e-12, rtol=0)


def test_col2im_is_the_adjoint_of_im2col():
    x = torch.randn(2, 2, 6, 6, generator=_gen(1), dtype=f64)
    index = cs231n.im2col_indices(2, 6, 6, 3, 3, 1)
    c = torch.randn(2, 18, 16, generator=_gen(2), dtype=f64)
    lhs = (cs231n.im2col(x, index) * c).sum()
    rhs = (x * cs231n.col2im(c, index, x.shape)).sum()
    assert lhs.item() == pytest.approx(rhs.item(), rel=1e-12)


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1), (2, 2)])
def test_conv_forward_and_backward_match_torch(stride, pad):
    g = _gen(4)
    x = torch.randn(3, 2, 7, 6, generator=g, dtype=f64, requires_grad=True)
    w = torch.randn(4, 2, 3, 3, generator=g, dtype=f64, requires_grad=True)
    b = torch.randn(4, generator=g, dtype=f64, requires_grad=True)
    out, cache = cs231n.conv_forward(x.detach(), w.detach(), b.detach(), stride, pad)
    ref = F.conv2d(x, w, b, stride=stride, padding=pad)
    torch.testing.assert_close(out, ref.detach(), atol=1e-12, rtol=0)
    dout = torch.randn(ref.shape, generator=g, dtype=f64)
    ref.backward(dout)
    for ours, theirs in zip(cs231n.conv_backward(dout, cache), (x.grad, w.grad, b.grad), strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=0)


@pytest.mark.parametrize("pool, stride", [(2, 2), (3, 2), (2, 1)])
def test_max_pool_matches_torch_including_overlapping_windows(pool, stride):
    x = torch.randn(2, 3, 8, 8, generator=_gen(5), dtype=f64, requires_grad=True)
    out, cache = cs231n.max_pool_forward(x.detach(), pool, pool, stride)
    ref = F.max_pool2d(x, pool, stride)
    torch.testing.assert_close(out, ref.detach(), atol=0, rtol=0)
    dout = torch.randn(ref.shape, generator=_gen(6), dtype=f64)
    ref.backward(dout)
    torch.testing.assert_close(cs231n.max_pool_backward(dout, cache), x.grad, atol=1e-12, rtol=0)


# ---- batch norm and dropout: the modes -------------------------------------------------------------


def test_batchnorm_running_averages_and_test_mode():
    x = 5 * torch.randn(200, 3, generator=_gen(7), dtype=f64) + 12
    gamma, beta, state = torch.ones(3, dtype=f64), torch.zeros(3, dtype=f64), {}
    out, _ = cs231n.batchnorm_forward(x, gamma, beta, state, train=True)
    torch.testing.assert_close(out.mean(0), torch.zeros(3, dtype=f64), atol=1e-10, rtol=0)
    torch.testing.assert_close(out.std(0, unbiased=False), torch.ones(3, dtype=f64), atol=1e-5, rtol=0)
    torch.testing.assert_close(state["running_mean"], 0.1 * x.mean(0))  # from 0 with momentum 0.9
    for _ in range(200):
        cs231n.batchnorm_forward(x, gamma, beta, state, train=True)
    test_out, cache = cs231n.batchnorm_forward(x, gamma, beta, state, train=False)
    assert cache is None
    torch.testing.assert_close(test_out, out, atol=1e-5, rtol=0)  # running stats converged


def test_dropout_keeps_p_and_preserves_the_mean():
    x = torch.ones(500, 400)
    out, _ = cs231n.dropout_forward(x, 0.3, train=True, generator=_gen(8))
    kept = (out != 0).float().mean().item()
    assert kept == pytest.approx(0.3, abs=0.01)
    assert out.mean().item() == pytest.approx(1.0, abs=0.03)  # inverted dropout: E[out] = x
    same, _ = cs231n.dropout_forward(x, 0.3, train=True, generator=_gen(8))
    assert torch.equal(out, same)
    test_out, cache = cs231n.dropout_forward(x, 0.3, train=False)
    assert cache is None and torch.equal(test_out, x)


# ---- the update rules against torch.optim ----------------------------------------------------------


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "adam"])
def test_update_rules_match_torch_optim(rule):
    g = _gen(9)
    w0 = torch.randn(5, 4, generator=g, dtype=f64)
    grads = [torch.randn(5, 4, generator=g, dtype=f64) for _ in range(6)]
    ours, state = w0.clone(), {}
    theirs = w0.clone().requires_grad_()
    optimizer = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
        "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        "adam": lambda p: torch.optim.Adam(p, lr=0.1, eps=1e-8),
    }[rule]([theirs])
    for grad in grads:
        cs231n.UPDATE_RULES[rule](ours, grad, state, 0.1)
        theirs.grad = grad.clone()
        optimizer.step()
    torch.testing.assert_close(ours, theirs.detach(), atol=1e-12, rtol=0)


# ---- kNN and the losses ---------------------------------------------------------------------------


def test_l2_distances_without_loops_equal_cdist():
    g = _gen(10)
    a, b = torch.randn(7, 64, generator=g, dtype=f64), torch.randn(11, 64, generator=g, dtype=f64)
    torch.testing.assert_close(cs231n.l2_distances(a, b), torch.cdist(a, b), atol=1e-10, rtol=0)
    assert torch.all(cs231n.l2_distances(a, a).diagonal() < 1e-6)


def test_knn_vote_breaks_ties_toward_the_smaller_label():
    dists = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    assert cs231n.knn_predict(dists, torch.tensor([3, 1, 1, 3]), 4, 5).item() == 1  # 2 votes each
    assert cs231n.knn_predict(dists, torch.tensor([3, 1, 1, 3]), 1, 5).item() == 3
    assert cs231n.knn_predict(dists, torch.tensor([4, 2, 2, 0]), 3, 5).item() == 2


def test_accuracy_is_an_exact_ratio():
    pred, y = torch.arange(359), torch.arange(359)
    pred[:5] = -1  # 354 / 359 correct, as exact as the same count computed anywhere else
    assert cs231n.fraction_correct(pred, y) == 354 / 359


def test_knn_cross_validation_returns_one_accuracy_per_fold():
    x = torch.randn(60, 5, generator=_gen(11))
    y = torch.arange(60) % 3
    cv = cs231n.knn_cross_validate(x, y, (1, 3), folds=4, num_classes=3)
    assert set(cv) == {1, 3} and all(len(v) == 4 for v in cv.values())
    assert all(0 <= a <= 1 for v in cv.values() for a in v)


def test_losses_match_torch_and_chance_level():
    scores = torch.randn(30, 10, generator=_gen(12), dtype=f64)
    y = torch.randint(0, 10, (30,), generator=_gen(13))
    assert cs231n.softmax_loss(scores, y)[0].item() == pytest.approx(
        F.cross_entropy(scores, y).item(), rel=1e-12
    )
    svm = 10 * F.multi_margin_loss(scores, y, margin=1.0)
    assert cs231n.svm_loss(scores, y)[0].item() == pytest.approx(svm.item(), rel=1e-12)
    # Tiny scores: softmax loss ≈ ln C and SVM loss ≈ C - 1 (the notes' sanity checks)
    small = 1e-6 * scores
    assert cs231n.softmax_loss(small, y)[0].item() == pytest.approx(
        torch.log(torch.tensor(10.0)).item(), abs=1e-4
    )
    assert cs231n.svm_loss(small, y)[0].item() == pytest.approx(9.0, abs=1e-4)


# ---- the models train without autograd -----------------------------------------------------------


def test_training_uses_no_autograd_and_learns():
    g = _gen(14)
    centers = 3 * torch.randn(3, 1, 8, 8, generator=g)
    y = torch.arange(90) % 3
    x = centers[y] + 0.5 * torch.randn(90, 1, 8, 8, generator=g)
    data = {"x_train": x[:60], "y_train": y[:60], "x_val": x[60:], "y_val": y[60:]}
    model = cs231n.ThreeLayerConvNet((1, 8, 8), 4, 3, 16, 3, reg=1e-3, generator=g)
    log = cs231n.train(model, data, update_rule="adam", lr=3e-3, epochs=5, batch_size=20, generator=g)
    assert all(not p.requires_grad and p.grad is None for p in model.params.values())
    loss, grads = model.loss(data["x_train"], data["y_train"])
    assert loss.grad_fn is None and set(grads) == set(model.params)
    assert log.best_val_acc == 1.0 and len(log.val_acc) == 5 and len(log.loss) == 15


def test_two_layer_net_scores_match_a_torch_forward():
    model = cs231n.TwoLayerNet(6, 5, 4, reg=0.0, generator=_gen(15), dtype=f64)
    x = torch.randn(3, 6, generator=_gen(16), dtype=f64)
    p = model.params
    torch.testing.assert_close(model.loss(x), torch.relu(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"])


def test_load_data_is_zero_centred_and_split_three_ways():
    data = cs231n.load_data(cs231n.Config(), seed=0, device=torch.device("cpu"))
    assert data["x_train"].shape[1:] == (1, 8, 8)
    assert len(data["y_train"]) + len(data["y_val"]) + len(data["y_test"]) == 1797
    assert data["x_train"].mean(0).abs().max() < 1e-5 and abs(data["x_train"].std().item() - 1) < 1e-3


# ---- the config and the command line ------------------------------------------------------------------


def test_config_validation():
    for cfg in cs231n.PRESETS.values():
        cfg.validate()
    with pytest.raises(ValueError, match="filter_size"):
        cs231n.Config(filter_size=4).validate()
    with pytest.raises(ValueError, match="knn_folds"):
        cs231n.Config(knn_folds=1).validate()
    with pytest.raises(ValueError, match="learning rates"):
        cs231n.Config(net_lrs=(0.0,)).validate()


@pytest.mark.parametrize(
    ("setting", "message"),
    [("filter_size=4", "filter_size"), ("k_choices=0,1", "k_choices"), ("val_fraction=1.5", "val_fraction")],
)
def test_bad_settings_exit_2(setting, message, capsys):
    assert main(["run", "cs231n", "--quick", "--set", setting]) == 2
    assert message in capsys.readouterr().err


def test_quick_run(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "cs231n", "--quick", "--out", str(out)]) == 0
    result = json.loads((out / "cs231n" / "result.json").read_text())
    assert len(result["claims"]) == len(cs231n.CARD.claims)
    assert {p["file"] for p in result["plots"]} == {
        "gradient_checks.png",
        "knn_cross_validation.png",
        "accuracy.png",
    }
    metrics = result["metrics"]
    assert set(metrics["gradient_checks"]) == {*LAYERS, "two_layer_net", "convnet"}
    assert result["claims"][0]["verdict"] == result["claims"][1]["verdict"] == "reproduced"
    assert all(0 <= metrics[f"{n}_test_accuracy"] <= 1 for n in cs231n.CLASSIFIERS)


def test_sizes_equal_the_shared_counter_on_torch_equivalents():
    """TwoLayerNet and ThreeLayerConvNet count their own parameters and multiply-adds (the hooks of
    landmarks.nn.counting cannot see hand-written layers): the same as the torch nets they equal."""
    from torch import nn

    from landmarks.nn.counting import count_macs, count_params

    g = torch.Generator().manual_seed(0)
    two = cs231n.TwoLayerNet(64, 50, 10, reg=0.0, generator=g)
    same = nn.Sequential(nn.Linear(64, 50), nn.ReLU(), nn.Linear(50, 10))
    assert two.size() == {"parameters": count_params(same), "macs": count_macs(same, (1, 64))}
    conv = cs231n.ThreeLayerConvNet((1, 8, 8), 16, 3, 40, 10, reg=0.0, generator=g)
    same = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 4 * 4, 40), nn.ReLU(), nn.Linear(40, 10),
    )  # fmt: skip
    assert conv.size(8, 8) == {"parameters": count_params(same), "macs": count_macs(same, (1, 1, 8, 8))}
