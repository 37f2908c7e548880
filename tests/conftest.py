from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# trained weights the tests cache go to a fresh folder, never the user's cache
os.environ["LANDMARKS_CACHE"] = tempfile.mkdtemp(prefix="landmarks-test-cache-")
# `landmarks list` reads the kept results/ folder too: tests see an empty one, not the repository's
os.environ["LANDMARKS_RESULTS"] = tempfile.mkdtemp(prefix="landmarks-test-results-")
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def toy_paper(monkeypatch: pytest.MonkeyPatch):
    """Register tests/toy_paper.py as the paper ``toy`` for the duration of a test."""
    import toy_paper as module

    from landmarks import registry

    paper = registry.Paper(
        id="toy",
        title="A Toy Paper",
        authors="Toy et al.",
        year=2024,
        url="https://example.org",
        track=1,
        takeaway="Tests the engine.",
        module="toy_paper",
    )
    monkeypatch.setattr(registry, "PAPERS", [*registry.PAPERS, paper])
    monkeypatch.setitem(registry._BY_ID, "toy", paper)
    monkeypatch.setattr(module, "INTERRUPT_AT", None)
    monkeypatch.setattr(module, "CRASH_AT", None)
    return module
