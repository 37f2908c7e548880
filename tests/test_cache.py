"""The cache of trained weights: trained once, loaded after; a damaged, changed or foreign entry
is trained again with a message, never used."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from landmarks.engine.cache import cache_dir, cached_state


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LANDMARKS_CACHE", str(tmp_path))
    return tmp_path


def test_trains_once_then_loads(cache: Path):
    calls: list[int] = []
    logs: list[str] = []

    def train() -> dict[str, torch.Tensor]:
        calls.append(1)
        return {"w": torch.arange(4.0)}

    key = {"width": 4, "seed": 0}
    state, cached = cached_state(logs.append, "toy", key, train)
    assert not cached and calls == [1] and cache_dir() == cache
    state2, cached2 = cached_state(logs.append, "toy", key, train)
    assert cached2 and calls == [1] and torch.equal(state2["w"], state["w"])
    cached_state(logs.append, "toy", {"width": 4, "seed": 1}, train)  # another key: its own entry
    assert calls == [1, 1] and len(list((cache / "toy").glob("*.pt"))) == 2
    cached_state(logs.append, "toy", key, train, enabled=False)
    assert calls == [1, 1, 1]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "meta"])
def test_a_damaged_entry_is_trained_again_with_a_message(cache: Path, damage: str):
    key = {"n": 1}
    cached_state(lambda m: None, "toy", key, lambda: {"w": torch.ones(1000)})
    pt = next((cache / "toy").glob("*.pt"))
    if damage == "truncate":
        pt.write_bytes(pt.read_bytes()[:100])
    elif damage == "garbage":
        pt.write_bytes(b"not a checkpoint at all")
    else:
        pt.with_suffix(".json").write_text("{broken")
    logs: list[str] = []
    state, cached = cached_state(logs.append, "toy", key, lambda: {"w": torch.zeros(3)})
    assert not cached and torch.equal(state["w"], torch.zeros(3))
    assert any("cannot be used" in m and "training it again" in m for m in logs)
    again, cached = cached_state(logs.append, "toy", key, lambda: {"w": torch.ones(1)})
    assert cached and torch.equal(again["w"], torch.zeros(3))  # the retrained entry replaced it
