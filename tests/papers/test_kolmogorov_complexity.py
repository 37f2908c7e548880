"""kolmogorov-complexity: the learned coder round-trips, the counting bound, NCD clustering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from landmarks.cli import main
from landmarks.information.arithmetic import decode, encode
from landmarks.papers import kolmogorov_complexity as kc
from landmarks.papers.char_rnn import CharRNN


def test_the_learned_coder_round_trips_and_costs_its_cross_entropy():
    torch.manual_seed(0)
    model = CharRNN(5, 16)
    coder = kc.CharModelCoder(model, 5)
    symbols = np.random.default_rng(0).integers(0, 5, 400).tolist()
    payload = encode(symbols, coder)
    assert decode(payload, len(symbols), coder) == symbols
    with torch.no_grad():
        logits, _ = model(torch.tensor([symbols[:-1]]))
        nll = torch.nn.functional.cross_entropy(logits[0], torch.tensor(symbols[1:]), reduction="sum")
    ideal_bits = float(nll) / np.log(2) + np.log2(5)  # + the first symbol, coded uniformly
    assert abs(8 * len(payload) - ideal_bits) < 16  # byte padding, 2 bits, quantization


def test_counting_shares_stay_under_two_to_the_minus_k():
    shares = kc.incompressible_shares(8)
    assert len(shares) == 7
    assert all(s < 2.0**-k for k, s in enumerate(shares, start=1))
    assert shares == sorted(shares, reverse=True)


def test_cluster_purity():
    d = np.array([[0, 0.1, 0.9, 0.9], [0.1, 0, 0.9, 0.9], [0.9, 0.9, 0, 0.2], [0.9, 0.9, 0.2, 0]])
    purity, _ = kc.cluster_purity(d, [0, 0, 1, 1], 2)
    assert purity == 1.0
    purity, _ = kc.cluster_purity(d, [0, 1, 0, 1], 2)
    assert purity == 0.5


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("kolmogorov-complexity", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "kolmogorov-complexity" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == len(kc.CARD.claims)
    for name in ("ncd", "bits"):
        assert (tmp_path / "kolmogorov-complexity" / f"{name}.png").exists()
    metrics = saved["metrics"]
    assert set(metrics["ncd_purity_by_compressor"]) == {"zlib", "bz2", "lzma"}
    assert set(metrics["ncd_nearest_neighbour_same_source_by_compressor"]) == {"zlib", "bz2", "lzma"}
    # the claim and its metrics stay on lzma
    assert metrics["ncd_purity_by_compressor"]["lzma"] == metrics["ncd_purity"]
    nearest = metrics["ncd_nearest_neighbour_same_source_by_compressor"]["lzma"]
    assert nearest == metrics["ncd_nearest_neighbour_same_source"]
    claim = next(c for c in saved["claims"] if "NCD clusters" in c["statement"])
    assert claim["measured"] == metrics["ncd_purity"]


def test_ncd_clustering_under_every_compressor():
    rng = np.random.default_rng(0)
    text = b"to be or not to be, that is the question; whether tis nobler in the mind " * 6
    items = [text[i : i + 300] for i in (0, 60)] + [rng.integers(0, 256, 300, dtype=np.uint8).tobytes()]
    for compressor in ("zlib", "bz2", "lzma"):
        distances, purity, tree, nearest_same = kc.ncd_clustering(items * 2, [0, 0, 1] * 2, compressor)
        assert distances.shape == (6, 6) and np.allclose(distances, distances.T)
        assert tree.shape == (5, 4)
        assert 0 < purity <= 1 and nearest_same == 1.0  # each item's copy is its nearest neighbour


def test_bad_settings_exit_2(capsys):
    assert main(["run", "kolmogorov-complexity", "--quick", "--set", "counting_bits=40"]) == 2
    assert "counting_bits must lie in" in capsys.readouterr().err
