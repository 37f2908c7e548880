"""Every paper's settings, checked before any training: a value that cannot work is a clear
``--set`` error (exit 2 at the command line), never a traceback halfway through a run.

A sweep of ``--set key=0`` and ``key=-1`` over every numeric setting of every paper found
settings that crashed inside ``reproduce`` or ran with nonsense; these tests keep them fixed.
They call ``runner.preset``, which validates, and train nothing.
"""

from __future__ import annotations

import dataclasses

import pytest

from landmarks import registry
from landmarks.config import BadOverride, field_types
from landmarks.runner import preset

# Settings where a negative number is a meaningful choice, not a mistake.
NEGATIVE_ALLOWED = {("lstm", "forget_bias")}


def _numeric_settings() -> list[tuple[str, str]]:
    cases = []
    for pid in registry.ids():
        cfg = registry.get(pid).load().PRESETS["quick"]
        types_ = field_types(cfg)
        for f in dataclasses.fields(cfg):
            if types_[f.name] in (int, float) and (pid, f.name) not in NEGATIVE_ALLOWED:
                cases.append((pid, f.name))
    return cases


@pytest.mark.parametrize("pid,key", _numeric_settings())
def test_a_negative_setting_is_refused_before_training(pid: str, key: str) -> None:
    with pytest.raises(BadOverride):  # the other settings are the quick preset's, which pass
        preset(pid, True, [f"{key}=-1"])


@pytest.mark.parametrize(
    "pid,pair",
    [
        # each of these crashed with a traceback, or ran on with nonsense, before it was checked
        ("bahdanau-attention", "beam_sentences=0"),
        ("scaling-laws", "head_width=0"),
        ("maxvit", "window=0"),
        ("ann", "pq_m=0"),
        ("ann", "rerank=5"),  # below k = 10: the exact re-ranking keeps k of its shortlist
        ("ann", "nlist=0"),
        ("vit", "label_smoothing=1.5"),
        ("ntm", "eval_every=0"),  # validation picks the attempt: it cannot be off
        ("imagine-flash", "clip_norm=0"),
        ("peft", "lora_alpha=0"),
        ("alexnet", "momentum=1.5"),
        ("resnet", "momentum=1"),
        ("identity-mappings", "momentum=1.5"),
    ],
)
def test_settings_that_cannot_work_are_refused(pid: str, pair: str) -> None:
    with pytest.raises(BadOverride, match=pair.split("=")[0].split("_")[0]):
        preset(pid, True, [pair])
