from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from landmarks.config import BadOverride, apply_overrides


@dataclass(frozen=True)
class Cfg:
    steps: int = 10
    lr: float = 0.1
    fused: bool = True
    name: str = "x"
    cell: Literal["lstm", "gru"] = "lstm"
    limit: int | None = None

    def validate(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be ≥ 1")


def test_overrides_are_typed() -> None:
    c = apply_overrides(Cfg(), ["steps=5", "lr=1e-3", "fused=false", "name=y", "cell=gru", "limit=3"])
    assert c == Cfg(5, 1e-3, False, "y", "gru", 3)
    assert apply_overrides(Cfg(), ["limit=none"]).limit is None


@pytest.mark.parametrize(
    "pair,message",
    [
        ("nope=1", "unknown key 'nope'"),
        ("steps=1.5", "expected int"),
        ("lr=fast", "expected float"),
        ("fused=maybe", "expected a bool"),
        ("cell=rnn", "must be one of lstm, gru"),
        ("steps", "expected key=value"),
        ("steps=0", "steps must be ≥ 1"),
        ("lr=nan", "NaN"),
    ],
)
def test_bad_overrides_explain_themselves(pair: str, message: str) -> None:
    with pytest.raises(BadOverride, match=message) as e:
        apply_overrides(Cfg(), [pair])
    if "unknown" in message or "expected" in message:
        assert "steps (int" in str(e.value) and "lr (float" in str(e.value)
