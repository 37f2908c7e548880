"""identity-mappings: units and shortcuts of Fig. 4 / Table 1, the pre-activation ResNets, counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from landmarks.cli import main
from landmarks.nn.counting import count_params
from landmarks.papers import identity_mappings as im
from landmarks.papers import resnet


def _weight_layers(model: nn.Module) -> int:
    return sum(
        p.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) for p in m.parameters()
    )


def test_the_papers_parameter_counts():
    assert round(_weight_layers(im.preact_resnet(1001)) / 1e6, 1) == 10.2  # Table 4
    assert round(count_params(im.preact_resnet(164)) / 1e6, 1) == 1.7
    assert round(count_params(im.VariantResNet(110, True)) / 1e6, 1) == 1.7


def test_the_original_unit_is_resnets_basic_block():
    """Fig. 4a with identity shortcuts is exactly the ResNet paper's CIFAR net (option A)."""
    ours, theirs = im.VariantResNet(20, False, width=8), resnet.cifar_resnet(20, "A", width=8)
    assert count_params(ours) == count_params(theirs)
    src = [p for p in theirs.parameters()]
    dst = [ours.conv1.weight, ours.bn1.weight, ours.bn1.bias]
    for unit in ours.units:
        dst += [
            unit.conv1.weight,
            unit.bn1.weight,
            unit.bn1.bias,
            unit.conv2.weight,
            unit.bn2.weight,
            unit.bn2.bias,
        ]
    dst += [ours.fc.weight, ours.fc.bias]
    with torch.no_grad():
        for d, s in zip(dst, src, strict=True):
            d.copy_(s)
    x = torch.randn(2, 3, 16, 16)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x))


def test_eq_4_pre_activation_stream_is_a_sum_of_residuals():
    """x_L = x_l + Σ F(x_i): with every F zeroed, a stack of pre-activation units is the identity."""
    units = nn.Sequential(*(im.ResidualUnit(4, 4, 1, preact=True) for _ in range(5)))
    for u in units:
        nn.init.zeros_(u.conv2.weight)
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(units(x), x)
    post = nn.Sequential(*(im.ResidualUnit(4, 4, 1, preact=False) for _ in range(5)))
    for u in post:
        nn.init.zeros_(u.bn2.weight)
    torch.testing.assert_close(post(x), torch.relu(x))  # the ReLU after the addition is not an identity


@pytest.mark.parametrize("shortcut", im.SHORTCUTS)
@pytest.mark.parametrize("preact", [False, True])
def test_every_variant_builds_and_trains_a_step(shortcut, preact):
    net = im.VariantResNet(14, preact, shortcut, width=4, in_channels=1)
    x, y = torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 3])
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in net.parameters())


def test_scaled_and_gated_shortcuts_compute_table_1s_formulas():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5)
    scaled = im.ResidualUnit(4, 4, 1, False, "scaled").eval()
    torch.testing.assert_close(scaled(x), torch.relu(0.5 * x + 0.5 * scaled.residual(x)))
    gated = im.ResidualUnit(4, 4, 1, False, "gated", gate_bias=-6.0).eval()
    g = torch.sigmoid(gated.gate(x))
    torch.testing.assert_close(gated(x), torch.relu((1 - g) * x + g * gated.residual(x)))
    assert float(g.detach().mean()) < 0.01  # b_g = −6 starts the gate nearly closed
    with pytest.raises(ValueError, match="shortcut must be one of"):
        im.ResidualUnit(4, 4, 1, False, "skip")


def test_bad_depths_are_refused():
    with pytest.raises(ValueError, match="6n\\+2"):
        im.VariantResNet(100, True)
    with pytest.raises(ValueError, match="9n\\+2"):
        im.preact_resnet(1000)


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("identity-mappings", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "identity-mappings" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert set(saved["metrics"]["final_train_loss"]) == set(im.RUNS)
    assert (tmp_path / "identity-mappings" / "training_loss.png").exists()


def test_bad_settings_exit_2(capsys):
    assert main(["run", "identity-mappings", "--quick", "--set", "depth=100"]) == 2
    assert "6n+2" in capsys.readouterr().err
