"""Every registered paper keeps the module contract, and its quick reproduction runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from landmarks import registry
from landmarks.claims import Threshold
from landmarks.cli import main

IDS = registry.ids()


def test_ids_are_unique_and_typeable() -> None:
    assert len(IDS) == len(set(IDS))
    assert all(pid == pid.lower() and " " not in pid for pid in IDS)
    assert all(p.track in registry.TRACKS for p in registry.PAPERS)


@pytest.mark.parametrize("pid", IDS)
def test_module_contract(pid: str) -> None:
    module = registry.get(pid).load()
    assert isinstance(module.CARD, registry.Card)
    assert module.CARD.claims and module.CARD.keeps and module.CARD.shrinks and module.CARD.citation
    for spec in module.CARD.claims:
        Threshold(spec.threshold)  # parses
        assert spec.paper_value, f"{pid}: every claim states the paper's figure"
    assert dataclasses.is_dataclass(module.Config)
    assert set(module.PRESETS) >= {"default", "quick"}
    for cfg in module.PRESETS.values():
        assert isinstance(cfg, module.Config)
        if hasattr(cfg, "validate"):
            cfg.validate()
    assert callable(module.reproduce)
    assert (module.__doc__ or "").strip(), f"{pid}: module docstring with the citation"


@pytest.mark.parametrize("pid", IDS)
def test_quick_reproduce_smoke(pid: str, tmp_path: Path) -> None:
    """`landmarks reproduce <id> --quick` runs in seconds and writes a full report."""
    assert main(["reproduce", pid, "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / pid / "result.json").read_text())
    assert result["paper"] == pid and result["quick"] is True and result["claims"]
    for plot in result.get("plots", []):
        assert (tmp_path / pid / plot["file"]).stat().st_size > 0
    assert f"`{pid}`" in (tmp_path / "RESULTS.md").read_text()
    assert (tmp_path / "report.html").exists()


@pytest.mark.parametrize("pid", IDS)
def test_show_prints_the_card(pid: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", pid]) == 0
    out = capsys.readouterr().out
    assert registry.get(pid).title.split(":")[0][:20] in out.replace("\n", " ")
    assert "What the toy keeps" in out and f"landmarks run {pid}" in out
