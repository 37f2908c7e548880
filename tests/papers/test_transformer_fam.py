"""TransformerFAM (Hwang et al., 2024): block sliding-window attention, feedback memory, decoding
with a fixed-size state, the passkey task, and the paper's run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from landmarks.cli import main
from landmarks.data.passkey import IGNORE, PasskeyTask, passkey_accuracy
from landmarks.nn.fam import FAMConfig, FAMTransformer, block_mask, state_bytes


def _model(fam: int, memory: int = 1, layers: int = 2) -> FAMTransformer:
    torch.manual_seed(0)
    cfg = FAMConfig(
        vocab_size=13, block=4, memory=memory, fam_tokens=fam, n_layer=layers, n_head=2, d_model=16
    )
    return FAMTransformer(cfg).double().eval()


def test_block_mask():
    mask = ~block_mask(3, 2, 3)  # allowed: rows = 3 block tokens, 2 FAM; columns = 3 memory, 3 block, 2 FAM
    expected = torch.tensor(
        [
            [1, 1, 1, 1, 0, 0, 1, 1],
            [1, 1, 1, 1, 1, 0, 1, 1],
            [1, 1, 1, 1, 1, 1, 1, 1],
            [0, 0, 0, 1, 1, 1, 1, 1],
            [0, 0, 0, 1, 1, 1, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(mask, expected)


@pytest.mark.parametrize(("fam", "memory"), [(0, 1), (3, 1), (2, 0), (2, 2)])
def test_decoding_a_token_at_a_time_equals_the_whole_sequence(fam: int, memory: int):
    model = _model(fam, memory)
    idx = torch.randint(0, 13, (3, 18))  # four blocks and a half
    states = model.init_state(3)
    stepped = torch.stack([model.step(idx[:, t], states) for t in range(18)], dim=1)
    torch.testing.assert_close(stepped, model(idx))


def test_bswa_cannot_see_past_its_reach_and_fam_can():
    idx = torch.randint(0, 13, (1, 40))
    changed = idx.clone()
    changed[0, 2] = (changed[0, 2] + 1) % 13
    bswa, fam = _model(0), _model(2)
    assert bswa.cfg.reach == (2 * 1 + 1) * 4
    moved = (bswa(idx) - bswa(changed)).abs().amax(-1)[0]
    assert bool((moved[bswa.cfg.reach + 4 :] == 0).all()) and bool((moved[2:8] > 0).all())
    moved = (fam(idx) - fam(changed)).abs().amax(-1)[0]
    assert bool((moved[2:] > 0).all())  # the memory carries it to the end


def test_decoding_state_is_fixed():
    model = _model(2)
    states = model.init_state(1)
    token = torch.zeros(1, dtype=torch.long)
    sizes = []
    with torch.no_grad():
        for t in range(1, 65):
            token = model.step(token, states).argmax(-1)
            if t in (16, 32, 64):
                sizes.append(state_bytes(states))
    assert sizes[0] == sizes[1] == sizes[2]


def test_passkey_sequences():
    task = PasskeyTask(40, digits=3, filler=5)
    x, y, d = task.batch(6, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (6, 40)
    ask = task.ask_position
    assert bool((x[:, ask] == task.ask).all())
    for row, dist in zip(range(6), d.tolist(), strict=True):
        start = ask - dist
        assert x[row, start] == task.key
        key = x[row, start + 1 : start + 4]
        assert torch.equal(x[row, ask + 1 :], key)  # the answer repeats the key
        assert torch.equal(y[row, ask : ask + 3], key) and bool((y[row, :ask] == IGNORE).all())
        assert all(5 + 10 * i <= int(v) < 5 + 10 * (i + 1) for i, v in enumerate(key))  # place i's symbols
    x2, _, _ = task.batch(6, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    _, _, fixed = task.batch(2, torch.Generator().manual_seed(1), distance=10)
    assert fixed.tolist() == [10, 10]
    with pytest.raises(ValueError, match="a key fits at distances"):
        task.batch(2, torch.Generator(), distance=2)
    logits = torch.nn.functional.one_hot(y.clamp(min=0), task.vocab_size).float()
    assert bool(passkey_accuracy(logits, y).all())


def test_bad_settings_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main(["run", "transformer-fam", "--quick", "--set", "fam_tokens=0"]) == 2
    assert "FAM needs memory tokens" in capsys.readouterr().err
    assert main(["run", "transformer-fam", "--quick", "--set", "block=64"]) == 2
    assert "reach" in capsys.readouterr().err


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("transformer-fam", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "transformer-fam" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    sizes = list(saved["metrics"]["decoding_state_bytes"].values())
    assert sizes[0] == sizes[-1]
    measured = list(saved["metrics"]["decoding_memory_bytes"].values())
    assert measured[0] > sizes[0]  # the state plus what a step allocates
    assert (tmp_path / "transformer-fam" / "transformer_fam.png").exists()
