"""ssm-copying: the two models have about the same parameter count, the transformer's heads
see exactly the windows the card says, the ratio of examples is computed from the curves,
bad settings exit 2, and a quick run writes its result and figure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.data.copying import CopyTask
from landmarks.nn.counting import count_params
from landmarks.papers.ssm_copying import PRESETS, Config, build_models, examples_ratio


def test_default_models_have_about_equal_parameters():
    cfg = PRESETS["default"]
    task = CopyTask(1, cfg.max_length, cfg.alphabet)
    models = build_models(cfg, task.vocab_size, 2 * task.sequence_length)
    tf, ssm = count_params(models["transformer"]), count_params(models["ssm"])
    assert abs(tf - ssm) / ssm < 0.15, (tf, ssm)


def test_hard_windows_let_head_h_see_itself_and_w_minus_1_before():
    cfg = PRESETS["default"]
    tf = build_models(cfg, 29, 41)["transformer"]
    mask = tf.window_mask(0, 6)[0]  # (heads, T, S), True where a head may not attend
    for head, w in enumerate(cfg.windows()):
        allowed = ~mask[head] & torch.ones(6, 6, dtype=torch.bool).tril()
        for i in range(6):
            seen = allowed[i].nonzero().flatten().tolist()
            assert seen == (list(range(max(0, i - w + 1), i + 1)) if w else list(range(i + 1)))


def test_examples_ratio_is_a_lower_bound_when_the_ssm_never_gets_there():
    tf = {"examples_to_target": 1000, "examples_trained": 1000}
    assert examples_ratio(tf, {"examples_to_target": 3000, "examples_trained": 3000}) == (3.0, False)
    assert examples_ratio(tf, {"examples_to_target": None, "examples_trained": 9000}) == (9.0, True)
    ratio, _ = examples_ratio({"examples_to_target": None, "examples_trained": 50}, tf)
    assert math.isnan(ratio)  # the transformer itself never copied: nothing to compare


@pytest.mark.parametrize(
    "setting",
    [
        "tf_windows=1,2,0",
        "tf_windows=1,2,x,0",
        "tf_windows=1,2,99,0",
        "alphabet=1",
        "target=1.5",
        "tf_d_ff=-1",
    ],
)
def test_bad_settings_exit_2(setting: str):
    assert main(["run", "ssm-copying", "--quick", "--set", setting]) == 2


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("ssm-copying", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "ssm-copying" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == 3
    models = saved["metrics"]["models"]
    assert set(models) == {"transformer", "ssm"}
    steps = PRESETS["quick"].tf_steps
    assert models["transformer"]["examples_trained"] <= steps * PRESETS["quick"].batch
    assert all(0 <= m["accuracy_at_2L"] <= 1 for m in models.values())
    lengths = saved["metrics"]["lengths"]
    assert lengths == list(range(1, 2 * PRESETS["quick"].max_length + 1))
    assert all(len(m["by_length"]) == len(lengths) for m in models.values())
    lookup = saved["metrics"]["lookup_by_length"]
    assert lookup["2-gram lookup"][0] == lookup["3-gram lookup"][0] == 1.0  # one letter: nothing to confuse
    assert (tmp_path / "ssm-copying" / "copying.png").exists()


def test_config_defaults_validate():
    Config().validate()
    PRESETS["quick"].validate()
