"""Griffin and Hawk (``landmarks.nn.griffin``): the RG-LRU against the plain recurrence and
Hugging Face's RecurrentGemma, decoding against the whole-sequence forward, local attention's
window, and the paper's run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.nn.griffin import (
    RGLRU,
    GriffinConfig,
    GriffinLM,
    LocalMQA,
    RecurrentBlock,
    rotary,
    state_bytes,
)

PATTERNS = {
    "transformer": (("attention",), 0),
    "hawk": (("recurrent",), 0),
    "griffin": (("recurrent", "recurrent", "attention"), 4),
}


def _model(name: str, **kw) -> GriffinLM:
    pattern, window = PATTERNS[name]
    cfg = GriffinConfig(vocab_size=11, pattern=pattern, n_layer=3, d_model=16, heads=2, window=window, **kw)
    return GriffinLM(cfg).double()


def test_rg_lru_scan_equals_the_sequential_recurrence_outputs_and_gradients():
    torch.manual_seed(0)
    lru = RGLRU(12, 3).double()
    x = torch.randn(2, 33, 12, dtype=torch.float64, requires_grad=True)
    fast = lru(x)
    (gx_fast,) = torch.autograd.grad(fast.square().sum(), x)
    slow = lru(x, sequential=True)
    (gx_slow,) = torch.autograd.grad(slow.square().sum(), x)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(gx_fast, gx_slow)


def test_rg_lru_decay_and_scaling():
    lru = RGLRU(8, 2)
    a = torch.exp(-torch.nn.functional.softplus(lru.recurrent_param))  # σ(Λ) as stored
    assert bool(((a >= 0.9 - 1e-6) & (a <= 0.999 + 1e-6)).all())
    x = torch.randn(1, 5, 8)
    at, bt = lru.coefficients(x, torch.arange(5)[:, None] == 0)
    assert bool(((at > 0) & (at < 1)).all())
    i = lru._gates(x)[1]
    torch.testing.assert_close(bt[:, 0], (i * x)[:, 0])  # no √(1 − a²) at the first token
    torch.testing.assert_close(bt[:, 1:], (torch.sqrt(1 - at**2) * i * x)[:, 1:])


def test_recurrent_block_matches_hugging_face_recurrent_gemma():
    pytest.importorskip("transformers")
    from transformers import RecurrentGemmaConfig
    from transformers.models.recurrent_gemma.modeling_recurrent_gemma import RecurrentGemmaRecurrentBlock

    torch.manual_seed(0)
    hf_cfg = RecurrentGemmaConfig(
        hidden_size=16,
        lru_width=24,
        num_attention_heads=4,
        conv1d_width=4,
        hidden_activation="gelu_pytorch_tanh",
    )
    reference = RecurrentGemmaRecurrentBlock(hf_cfg, 0)
    ours = RecurrentBlock(16, 24, 4, 4)
    reference.load_state_dict(ours.state_dict(), strict=True)  # the same names and shapes
    u = torch.randn(2, 9, 16)
    expected, _ = reference(u, torch.arange(9)[None].expand(2, -1), None, use_cache=False)
    torch.testing.assert_close(ours(u), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(PATTERNS))
def test_decoding_without_autograd_sees_every_change_of_the_weights(name: str):
    """Without autograd a step keeps what it derives from the weights (joined projections, the
    RG-LRU's rate, the rotary frequencies) from one token to the next; an optimizer step, a
    loaded state dict and replaced parameters must each be seen at the next decoding."""
    torch.manual_seed(1)
    model = _model(name)
    idx = torch.randint(0, 11, (3, 13))

    def decodes_as_the_forward_pass(mode) -> None:  # type: ignore[no-untyped-def]
        with mode():
            states = model.init_state(3)
            stepped = torch.stack([model.step(idx[:, t], states) for t in range(13)], dim=1)
            torch.testing.assert_close(stepped, model(idx))

    decodes_as_the_forward_pass(torch.inference_mode)
    mlp = model.layers[0].mlp
    kept = mlp.__dict__["_decoding_weights"]
    with torch.no_grad():
        model.step(idx[:, 0], model.init_state(3))
    assert mlp.__dict__["_decoding_weights"] is kept  # unchanged weights: not derived again
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model.loss(idx[:, :-1], idx[:, 1:]).backward()
    optimizer.step()
    decodes_as_the_forward_pass(torch.no_grad)
    model.load_state_dict(_model(name).state_dict())  # copied into the same tensors
    decodes_as_the_forward_pass(torch.inference_mode)
    model.load_state_dict(_model(name).state_dict(), assign=True)  # new parameter objects
    decodes_as_the_forward_pass(torch.no_grad)


@pytest.mark.parametrize("name", list(PATTERNS))
def test_a_decoding_step_passes_gradients_to_every_weight_it_reads(name: str):
    torch.manual_seed(1)
    model = _model(name)
    states = model.init_state(2)
    for state in states:  # a recurrent state to decay, so that the recurrence gate has a gradient
        if "h" in state:
            state.update(h=torch.randn_like(state["h"]), conv=torch.randn_like(state["conv"]), t=5)
    model.step(torch.tensor([3, 4]), states).square().sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert missing == []


@pytest.mark.parametrize("name", list(PATTERNS))
def test_decoding_a_token_at_a_time_equals_the_whole_sequence(name: str):
    torch.manual_seed(1)
    model = _model(name)
    idx = torch.randint(0, 11, (3, 13))  # longer than Griffin's window: the ring buffer wraps
    states = model.init_state(3)
    stepped = torch.stack([model.step(idx[:, t], states) for t in range(13)], dim=1)
    torch.testing.assert_close(stepped, model(idx))
    torch.testing.assert_close(model(idx, sequential=True), model(idx))


def test_decoding_in_turn_gives_each_model_its_own_greedy_tokens(tmp_path: Path):
    """The run's timing loop steps the three models in turn; each still decodes exactly what it
    would alone (no state or token crosses between them), and every clock only grows."""
    from landmarks.engine import Run
    from landmarks.papers.griffin import _decode

    torch.manual_seed(2)
    models = {name: _model(name).eval() for name in PATTERNS}
    for model in models.values():  # an untied random head: untrained tied models repeat their input
        model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))
    prompts = torch.tensor([3, 7])
    fed: dict[str, list[torch.Tensor]] = {name: [] for name in models}
    for name, model in models.items():
        step = model.step

        def recording(token, states, name=name, step=step):
            fed[name].append(token.clone())
            return step(token, states)

        model.step = recording  # type: ignore[method-assign]
    run = Run(paper="griffin", seed=0, device=torch.device("cpu"), out=tmp_path, show_progress=False)
    out = _decode(models, prompts, 32, run)
    decoded: dict[str, torch.Tensor] = {}
    for name, model in models.items():
        del model.step  # the class's own step again
        alone = model.generate_greedy(prompts[:, None], 31)  # the prompt and 31 tokens: 32 steps fed
        torch.testing.assert_close(torch.stack(fed[name], dim=1), alone, rtol=0, atol=0)
        decoded[name] = alone
        assert out[name]["lengths"] == [4, 8, 16, 32]
        assert out[name]["seconds"] == sorted(out[name]["seconds"])
    assert not torch.equal(decoded["hawk"], decoded["transformer"])  # the check can tell them apart
    assert not torch.equal(decoded["griffin"], decoded["transformer"])
    assert out["hawk"]["state_bytes"][0] == out["hawk"]["state_bytes"][-1]
    assert out["transformer"]["state_bytes"][-1] > out["transformer"]["state_bytes"][0]


def test_state_is_fixed_for_hawk_and_griffin_and_grows_for_the_transformer():
    sizes = {}
    for name in PATTERNS:
        model = _model(name)
        states = model.init_state(2)
        token = torch.zeros(2, dtype=torch.long)
        seen = []
        with torch.no_grad():
            for t in range(64):
                model.step(token, states)
                if t + 1 in (16, 64):
                    seen.append(state_bytes(states))
        sizes[name] = seen
    assert sizes["hawk"][0] == sizes["hawk"][1]
    assert sizes["griffin"][0] == sizes["griffin"][1]
    assert sizes["transformer"][1] == 4 * sizes["transformer"][0]


def test_local_attention_sees_only_its_window_and_fused_equals_explicit():
    torch.manual_seed(2)
    attn = LocalMQA(16, 4, window=3).double()
    u = torch.randn(1, 10, 16, dtype=torch.float64)
    out = attn(u)
    changed = u.clone()
    changed[:, 2] += 1.0  # position 2 is in the window of queries 2, 3, 4 only
    moved = (attn(changed) - out).abs().amax(-1)[0]
    assert bool((moved[[0, 1, 5, 6, 7, 8, 9]] == 0).all()) and bool((moved[2:5] > 0).all())
    attn.fused = False
    torch.testing.assert_close(attn(u), out)


def test_rotary_scores_depend_on_relative_position_only():
    torch.manual_seed(3)
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)

    def score(i: int, j: int) -> torch.Tensor:
        return rotary(q[None], torch.tensor([i])) @ rotary(k[None], torch.tensor([j])).T

    torch.testing.assert_close(score(5, 2), score(105, 102))
    torch.testing.assert_close(rotary(q[None], torch.tensor([0])), q[None])


def test_models_have_parameters_within_a_tenth_of_a_percent():
    from landmarks.papers.griffin import PRESETS, model_configs

    counts = {n: GriffinLM(c).num_parameters() for n, c in model_configs(PRESETS["default"], 65).items()}
    assert max(counts.values()) / min(counts.values()) < 1.001  # as claims 1-2 say
    assert counts["hawk"] == GriffinLM(model_configs(PRESETS["default"], 65)["hawk"]).num_parameters()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("window=200", "window must be between 1"),
        ("window=0", "window must be between 1"),
        ("n_layer=2", "n_layer"),
    ],
)
def test_bad_settings_exit_2(setting: str, message: str, capsys: pytest.CaptureFixture[str]):
    assert main(["run", "griffin", "--quick", "--set", setting]) == 2
    assert message in capsys.readouterr().err


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("griffin", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "griffin" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    decoding = saved["metrics"]["decoding"]
    assert decoding["hawk"]["state_bytes"][0] == decoding["hawk"]["state_bytes"][-1]
    hawk, tf = decoding["hawk"]["memory_bytes"], decoding["transformer"]["memory_bytes"]
    assert min(hawk) > decoding["hawk"]["state_bytes"][0]  # the state plus a step's peak
    assert max(hawk) / min(hawk) <= 1.1  # as the claim allows: timestamps order events to a microsecond
    assert tf[-1] > tf[0]  # the KV cache grows
    assert (tmp_path / "griffin" / "griffin.png").exists()
