"""alexnet: LRN against torch's, torchvision interop, the paper's counts, the experiment's pieces."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from landmarks.cli import main
from landmarks.data.cifar import write_cifar_batch
from landmarks.nn.counting import count_macs, count_params
from landmarks.papers import alexnet


def test_lrn_equals_torchs_with_alpha_times_n():
    x = torch.randn(3, 11, 5, 5, dtype=torch.float64, requires_grad=True)
    ref = nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)
    ours = alexnet.LocalResponseNorm(11).double()
    torch.testing.assert_close(ours(x), ref(x))
    (g_ours,) = torch.autograd.grad(ours(x).sin().sum(), x)
    (g_ref,) = torch.autograd.grad(ref(x).sin().sum(), x)
    torch.testing.assert_close(g_ours, g_ref)


def test_lrn_is_eq_1_written_out():
    a = torch.randn(1, 7, 1, 1, dtype=torch.float64) * 30
    b = alexnet.LocalResponseNorm(7, size=5, alpha=1e-4, beta=0.75, k=2.0).double()(a)
    for i in range(7):
        window = a[0, max(0, i - 2) : min(7, i + 3), 0, 0]
        expected = a[0, i, 0, 0] / (2.0 + 1e-4 * window.square().sum()) ** 0.75
        assert math.isclose(float(b[0, i, 0, 0]), float(expected), rel_tol=1e-12)


def test_loads_torchvision_alexnet_with_identical_logits():
    torch.manual_seed(0)
    ref = torchvision.models.alexnet(weights=None).eval()
    ours = alexnet.from_torchvision(ref.state_dict()).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))


def test_a_mismatched_state_dict_names_the_keys():
    sd = torchvision.models.alexnet(weights=None, num_classes=10).state_dict()
    assert alexnet.from_torchvision(sd).classifier[6].out_features == 10
    sd["features.3.weight"] = torch.zeros(1)
    del sd["features.0.bias"]
    with pytest.raises(ValueError, match=r"missing keys: features\.0\.bias.*mis-shaped: features\.3\.weight"):
        alexnet.from_torchvision(sd)
    with pytest.raises(ValueError, match=r"classifier\.6\.weight"):
        alexnet.from_torchvision({})


def test_the_papers_counts():
    tv = alexnet.alexnet()
    assert count_params(tv) == count_params(torchvision.models.alexnet(weights=None)) == 61_100_840
    assert round(count_macs(tv) / 1e9, 2) == 0.71  # torchvision lists 0.71 GFLOPS
    paper = alexnet.alexnet_2012()
    assert count_params(paper) == 60_965_224  # "60 million parameters"
    with torch.no_grad():
        assert paper.eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_groups_two_is_the_two_gpu_split():
    """A grouped conv is two convs, each over its own half of the input channels (Sec. 3.2)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 6, 3, padding=1, groups=2)
    x = torch.randn(2, 8, 5, 5)
    halves = [
        F.conv2d(
            x[:, 4 * g : 4 * g + 4], conv.weight[3 * g : 3 * g + 3], conv.bias[3 * g : 3 * g + 3], padding=1
        )
        for g in (0, 1)
    ]
    torch.testing.assert_close(conv(x), torch.cat(halves, 1))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("lrn", [False, True])
def test_small_net_shapes_activation_lrn_and_dropout(activation, lrn):
    net = alexnet.SmallAlexNet(width=4, activation=activation, dropout=0.5, lrn=lrn)
    x = torch.randn(5, 3, 32, 32)
    assert net(x).shape == (5, 10)
    net.eval()
    assert torch.equal(net(x), net(x))  # dropout off in eval mode
    net.train()
    assert not torch.equal(net(x), net(x))
    kinds = {type(m) for m in net.modules()}
    assert kinds & {nn.ReLU, nn.Tanh} == {alexnet.ACTIVATIONS[activation]}
    assert (alexnet.LocalResponseNorm in kinds) == lrn


def test_steps_to_error():
    assert alexnet.steps_to_error([1, 1, 0.5, 0.2, 0.2, 0.1], 0.25, 2) == 5  # mean(0.2, 0.2) at step 5
    assert alexnet.steps_to_error([0.2, 0.2], 0.25, 2) == 2
    assert alexnet.steps_to_error([1, 0.9, 0.8], 0.25, 2) == math.inf
    assert alexnet.steps_to_error([0.1], 0.25, 2) == math.inf  # fewer batches than the window


def test_speedup_is_a_lower_bound_when_tanh_never_gets_there():
    assert alexnet.speedup(100, 300, 1000) == 3
    assert alexnet.speedup(100, math.inf, 1000) == 10  # more than 1000 steps: at least 10 ×
    assert math.isnan(alexnet.speedup(math.inf, math.inf, 1000))


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("alexnet", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "alexnet" / "result.json").read_text())
    assert [c["statement"] for c in saved["claims"]] == [c.statement for c in alexnet.CARD.claims]
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert set(saved["metrics"]["runs"]) == set(alexnet.RUNS)
    for name in ("training_error", "accuracy", "samples", "filters"):
        assert (tmp_path / "alexnet" / f"{name}.png").exists()
    assert list((tmp_path / "alexnet" / "data").glob("shapes-*.npz"))  # the set is cached


@pytest.mark.parametrize(
    "setting, message",
    [("crop_padding=40", "crop larger than the 32×32 image"), ("dropout=1", "dropout must lie in")],
)
def test_bad_settings_exit_2(setting, message, capsys):
    assert main(["run", "alexnet", "--quick", "--set", setting]) == 2
    assert message in capsys.readouterr().err


def _fake_cifar(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for name in (*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"):
        write_cifar_batch(
            folder / name, rng.integers(0, 256, (60, 3, 32, 32), dtype=np.uint8), np.arange(60) % 10
        )


def test_cifar_from_data_dir_and_a_truncated_batch(tmp_path: Path, capsys):
    data = tmp_path / "cifar"
    data.mkdir()
    _fake_cifar(data)
    out = tmp_path / "out"
    assert main(["run", "alexnet", "--quick", "--data-dir", str(data), "--out", str(out)]) == 0
    (data / "data_batch_3.bin").write_bytes((data / "data_batch_3.bin").read_bytes()[:5000])
    assert main(["run", "alexnet", "--quick", "--data-dir", str(data), "--out", str(out)]) == 2
    assert "data_batch_3.bin" in capsys.readouterr().err
