"""Claims: a statement from a paper, checked against a number this run measured.

A claim's verdict is *computed* from the measured number and the threshold; there is no way to
pass a verdict in. Thresholds are written as short strings so that cards, result files and
reports all show the same text:

    ">= 0.95"   "<= 0.225"   "> 0"   "< 1.0"   "in (0, 1)" (open)   "in [0.9, 1.1]" (closed)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_COMPARISON = re.compile(rf"^\s*(>=|<=|>|<)\s*({_NUMBER})\s*$")
_INTERVAL = re.compile(rf"^\s*in\s*([(\[])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([)\]])\s*$")


@dataclass(frozen=True)
class Threshold:
    """A parsed threshold; ``holds(x)`` is the whole test."""

    text: str

    def __post_init__(self) -> None:
        if not (_COMPARISON.match(self.text) or _INTERVAL.match(self.text)):
            raise ValueError(
                f"bad threshold {self.text!r}: use '>= x', '<= x', '> x', '< x', 'in (a, b)' or 'in [a, b]'"
            )

    def holds(self, measured: float) -> bool:
        if measured is None or not math.isfinite(float(measured)):
            return False  # a NaN or a missing number never reproduces anything
        x = float(measured)
        if m := _COMPARISON.match(self.text):
            op, bound = m.group(1), float(m.group(2))
            return {">=": x >= bound, "<=": x <= bound, ">": x > bound, "<": x < bound}[op]
        m = _INTERVAL.match(self.text)
        assert m is not None
        lo, hi = float(m.group(2)), float(m.group(3))
        above = x >= lo if m.group(1) == "[" else x > lo
        below = x <= hi if m.group(4) == "]" else x < hi
        return above and below


@dataclass(frozen=True)
class Claim:
    """One of a paper's claims, as this run measured it."""

    statement: str
    measured: float
    threshold: str
    paper_value: str

    def __post_init__(self) -> None:
        Threshold(self.threshold)  # validate early, with a readable message
        object.__setattr__(self, "measured", _as_number(self.measured))

    @property
    def verdict(self) -> str:
        return REPRODUCED if Threshold(self.threshold).holds(self.measured) else NOT_REPRODUCED

    def to_json(self) -> dict:
        return {
            "statement": self.statement,
            "measured": self.measured,
            "threshold": self.threshold,
            "paper_value": self.paper_value,
            "verdict": self.verdict,
        }

    @classmethod
    def from_json(cls, d: dict) -> Claim:
        """Rebuild from a result file; the stored verdict is ignored and recomputed."""
        return cls(d["statement"], d["measured"], d["threshold"], d["paper_value"])


def _as_number(x: object) -> float:
    if isinstance(x, bool):
        return float(x)
    try:
        return float(x)  # type: ignore[arg-type]  # numpy and 0-d torch values too
    except (TypeError, ValueError) as e:
        raise TypeError(f"a claim's measured value must be a number, got {x!r}") from e


def fmt_number(x: float) -> str:
    """Short human form of a measured number, for tables."""
    if x is None or not math.isfinite(x):
        return str(x)
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    if abs(x) >= 1e6:
        return f"{x:.3g}"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.3g}" if abs(x) < 0.01 else f"{x:.3f}"
