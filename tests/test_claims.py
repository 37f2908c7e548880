from __future__ import annotations

import math

import pytest

from landmarks.claims import NOT_REPRODUCED, REPRODUCED, Claim, Threshold


@pytest.mark.parametrize(
    "text,x,holds",
    [
        (">= 0.95", 0.95, True),
        (">= 0.95", 0.9499, False),
        ("> 1", 1.0, False),
        ("> 1", 1.01, True),
        ("<= 0.225", 0.225, True),
        ("< 0", -1e-9, True),
        ("in (0, 1)", 0.0, False),
        ("in (0, 1)", 0.5, True),
        ("in [3.9, 4.3]", 4.3, True),
        ("in [3.9, 4.3]", 4.31, False),
        (">= 1e-3", 0.002, True),
    ],
)
def test_thresholds(text: str, x: float, holds: bool) -> None:
    assert Threshold(text).holds(x) is holds


@pytest.mark.parametrize("bad", ["0.95", ">= x", "== 1", "in (1 2)", ""])
def test_bad_thresholds_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="bad threshold"):
        Threshold(bad)


def test_nan_never_reproduces() -> None:
    assert Claim("s", math.nan, "<= 1", "p").verdict == NOT_REPRODUCED
    assert Claim("s", math.inf, ">= 1", "p").verdict == NOT_REPRODUCED


def test_verdict_is_computed_and_cannot_be_passed_in() -> None:
    c = Claim("acc", 0.5, ">= 0.95", "paper: 0.99")
    assert c.verdict == NOT_REPRODUCED
    with pytest.raises(TypeError):
        Claim("acc", 0.5, ">= 0.95", "p", verdict=REPRODUCED)  # type: ignore[call-arg]
    tampered = c.to_json() | {"verdict": REPRODUCED}
    assert Claim.from_json(tampered).verdict == NOT_REPRODUCED


def test_measured_must_be_a_number() -> None:
    with pytest.raises(TypeError):
        Claim("s", "high", ">= 1", "p")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "x,text", [(math.nan, "no number"), (math.inf, "∞"), (-math.inf, "−∞"), (0.1234, "0.123"), (4.0, "4")]
)
def test_tables_say_no_number_in_words(x: float, text: str) -> None:
    """A run records NaN when there was nothing to measure; RESULTS.md and `landmarks run` say so."""
    from landmarks.report import measured_text

    assert measured_text(x) == text


def test_html_table_cells_say_no_number_in_words(tmp_path) -> None:
    """A table a run records (``Run.table``) shows NaN and infinities as the claims table does."""
    from landmarks.report import _tables
    from landmarks.results import Result

    table = {"name": "t", "columns": ["a", "b", "c"], "rows": [[math.nan, math.inf, 0.5]]}
    html = _tables(Result(tmp_path / "result.json", {"paper": "x", "tables": [table]}, []))[0]
    assert "<td class='num'>no number</td><td class='num'>∞</td><td class='num'>0.500</td>" in html
    assert "nan" not in html
