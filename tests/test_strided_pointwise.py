"""No vision model here runs a plain strided 1×1 ``nn.Conv2d``.

oneDNN's weight gradient for a 1×1 convolution with stride > 1, on a channels-last input with
fewer channels than its vector block (8 with AVX2, 16 with AVX-512), writes past its workspace
(uxlfoundation/oneDNN#6035): the backward pass hangs, crashes or returns wrong gradients. It hung
the CI once. ``resnet.Conv1x1`` subsamples first and convolves at unit stride; these tests make
sure every strided pointwise convolution goes through it, in the models built here and in the
source (so that a new model cannot bring the plain one back unnoticed).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import landmarks
from landmarks.nn import vit
from landmarks.papers import alexnet, convnext, identity_mappings, maxvit, resnet

BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "resnet18": resnet.resnet18,
    "resnet50": resnet.resnet50,
    "preact_resnet164": lambda: identity_mappings.preact_resnet(164),
    **{
        f"identity_mappings_{shortcut}": (
            lambda shortcut=shortcut: identity_mappings.VariantResNet(8, False, shortcut, width=4)
        )
        for shortcut in ("identity", "scaled", "gated", "shortcut-gated", "conv1x1", "dropout")
    },
    "alexnet": alexnet.alexnet,
    "alexnet_2012": alexnet.alexnet_2012,
    "convnext_tiny": convnext.convnext_tiny,
    **{f"convnext_rung{r}": (lambda r=r: convnext.ladder_model(r, 8)) for r in range(6)},
    "maxvit_tiny_tf_224": maxvit.maxvit_tiny_tf_224,
    "vit_base_patch16_224": vit.vit_base_patch16_224,
}


def plain_strided_pointwise(model: nn.Module) -> list[str]:
    return [
        name
        for name, m in model.named_modules()
        if type(m) is nn.Conv2d and m.kernel_size == (1, 1) and m.stride != (1, 1)
    ]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_models_use_conv1x1_for_strided_pointwise(name: str) -> None:
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised for real
        model = BUILDERS[name]()
    assert plain_strided_pointwise(model) == []


def test_the_check_catches_a_plain_one() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2), resnet.Conv1x1(4, 8, 2), nn.Conv2d(4, 8, 1))
    assert plain_strided_pointwise(model) == ["0"]


def _literal(node: ast.expr | None) -> object:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return "?"  # a name or an expression: could be anything


def strided_pointwise_calls(source: str) -> list[int]:
    """Lines of the ``Conv2d(...)`` calls in ``source`` whose kernel is the literal 1 (or
    (1, 1)) and whose stride is anything but the literal 1."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name != "Conv2d":
            continue
        kw = {k.arg: k.value for k in node.keywords}
        kernel = _literal(node.args[2] if len(node.args) > 2 else kw.get("kernel_size"))
        stride = _literal(node.args[3] if len(node.args) > 3 else kw.get("stride"))
        if kernel in (1, (1, 1)) and stride not in (None, 1, (1, 1)):
            lines.append(node.lineno)
    return lines


def test_the_source_check_catches_plain_ones() -> None:
    source = (
        "a = nn.Conv2d(4, 8, 1, 2)\n"
        "b = nn.Conv2d(4, 8, kernel_size=(1, 1), stride=s)\n"
        "c = Conv2d(4, 8, 1, stride=1)\n"
        "d = nn.Conv2d(4, 8, 3, stride=2)\n"
        "e = Conv1x1(4, 8, 2)\n"
    )
    assert strided_pointwise_calls(source) == [1, 2]


def test_source_has_no_plain_strided_pointwise_conv() -> None:
    root = Path(landmarks.__file__).parent
    found = [
        f"{path.relative_to(root.parent)}:{line}"
        for path in sorted(root.rglob("*.py"))
        for line in strided_pointwise_calls(path.read_text())
    ]
    assert found == [], "use landmarks.papers.resnet.Conv1x1 for a strided 1×1 convolution"
