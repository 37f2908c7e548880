"""mpnn: parity with torch_geometric, invariances, a quick run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from landmarks.cli import main
from landmarks.data.molecules import batch_molecules, generate_molecules
from landmarks.papers import mpnn


def _batch(count: int = 4, seed: int = 0):
    return batch_molecules(
        generate_molecules(np.random.default_rng(seed), count, 5, 12), ("gap", "pi_energy")
    )


def test_edge_network_step_equals_torch_geometric_nnconv():
    pyg = pytest.importorskip("torch_geometric.nn")
    torch.manual_seed(0)
    g = _batch()
    step = mpnn.EdgeNetwork(g.edge_attr.shape[1], 6)
    conv = pyg.NNConv(6, 6, step.nn, aggr="add", root_weight=False, bias=False)  # the same edge MLP
    h = torch.randn(g.x.shape[0], 6)
    ours = step(h, g.edge_index, step.matrices(g.edge_attr))  # two bond kinds: the per-kind path
    assert torch.allclose(ours, conv(h, g.edge_index, g.edge_attr), atol=1e-5)
    distances = torch.rand(g.edge_attr.shape)  # continuous features: the per-edge path
    ours = step(h, g.edge_index, step.matrices(distances))
    assert torch.allclose(ours, conv(h, g.edge_index, distances), atol=1e-5)


def test_set2set_readout_equals_torch_geometric():
    aggr = pytest.importorskip("torch_geometric.nn.aggr")
    torch.manual_seed(0)
    g = _batch()
    h = torch.randn(g.x.shape[0], 5)
    model = mpnn.MPNN(2, 5, passes=0, readout="set2set", readout_steps=3)
    reference = aggr.Set2Set(5, processing_steps=3)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(reference.lstm, f"{name}_l0").copy_(getattr(model.set2set.lstm, name))
    padded, valid = mpnn.pad_by_graph(h, g.batch, g.graphs)
    ours, _ = model.set2set(padded, valid)
    assert torch.allclose(ours, reference(h, g.batch), atol=1e-5)


def test_predictions_do_not_depend_on_atom_order():
    torch.manual_seed(0)
    g = _batch(count=1)
    model = mpnn.MPNN(2, 8, passes=3)
    perm = torch.randperm(g.x.shape[0])
    inverse = torch.argsort(perm)
    shuffled = mpnn.GraphBatch(g.x[perm], inverse[g.edge_index], g.edge_attr, g.batch[perm], g.y, g.graphs)
    assert torch.allclose(model(g), model(shuffled), atol=1e-5)


def test_graphs_in_a_batch_do_not_interact():
    torch.manual_seed(0)
    molecules = generate_molecules(np.random.default_rng(3), 3, 5, 12)
    model = mpnn.MPNN(2, 8, passes=3)
    together = model(batch_molecules(molecules, ("gap", "pi_energy")))
    alone = torch.cat([model(batch_molecules([m], ("gap", "pi_energy"))) for m in molecules])
    assert torch.allclose(together, alone, atol=1e-5)


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("mpnn", out=tmp_path, quick=True, show_progress=False)
    saved = json.loads((tmp_path / "mpnn" / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert (tmp_path / "mpnn" / "mpnn.png").exists()


def _sdf_record(molecule, name: str, items: dict[str, float]) -> str:
    """One V2000 molfile with data items, as QM9's SDF files hold them."""
    lines = [
        name,
        "  generated",
        "",
        f"{molecule.atoms:3d}{len(molecule.bonds):3d}  0  0  0  0  0  0  0  0999 V2000",
    ]
    lines += [f"    {k:.4f}    0.0000    0.0000 {e:<3} 0  0" for k, e in enumerate(molecule.elements)]
    lines += [
        f"{u + 1:3d}{v + 1:3d}{t:3d}  0"
        for (u, v), t in zip(molecule.bonds, molecule.bond_types, strict=True)
    ]
    lines.append("M  END")
    for key, value in items.items():
        lines += [f"> <{key}>", f"{value:.6f}", ""]
    return "\n".join([*lines, "$$$$", ""])


def _write_sdf_folder(folder: Path, count: int = 8) -> None:
    molecules = generate_molecules(np.random.default_rng(5), count, 5, 9)
    folder.mkdir()
    for part in range(2):
        records = [
            _sdf_record(m, f"mol-{k}", {"gap": m.targets["gap"], "homo": -m.targets["gap"] / 2})
            for k, m in enumerate(molecules)
            if k % 2 == part
        ]
        (folder / f"part-{part}.sdf").write_text("".join(records))


def test_quick_run_reads_sdf_files_from_data_dir(tmp_path: Path):
    _write_sdf_folder(tmp_path / "sdf")
    out = tmp_path / "out"
    args = ["run", "mpnn", "--quick", "--data-dir", str(tmp_path / "sdf"), "--out", str(out)]
    assert main([*args, "--set", "targets=homo", "--set", "claim_target=homo"]) == 0
    saved = json.loads((out / "mpnn" / "result.json").read_text())
    assert set(saved["metrics"]["test_mae"]["MPNN, set2set readout"]) == {"homo"}
    assert len(saved["claims"]) == 3


def test_bad_settings_exit_2(capsys, tmp_path: Path):
    assert main(["run", "mpnn", "--quick", "--set", "max_degree=4"]) == 2
    assert "at most 3" in capsys.readouterr().err
    out = ["--out", str(tmp_path / "out")]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bad.sdf").write_text("title\n\n\n  x  1\n")
    assert main(["run", "mpnn", "--quick", "--data-dir", str(bad), *out]) == 2
    assert "line 4" in capsys.readouterr().err
    # Targets the data does not provide fail before training, naming the ones it does.
    homo = ["--set", "targets=homo", "--set", "claim_target=homo"]
    assert main(["run", "mpnn", "--quick", *homo, *out]) == 2
    err = capsys.readouterr().err
    assert "'homo'" in err and "gap, pi_energy" in err
    _write_sdf_folder(tmp_path / "sdf")
    lumo = ["--set", "targets=gap,lumo", "--set", "claim_target=gap"]
    assert main(["run", "mpnn", "--quick", "--data-dir", str(tmp_path / "sdf"), *lumo, *out]) == 2
    err = capsys.readouterr().err
    assert "'lumo'" in err and "gap, homo" in err
    assert not (tmp_path / "out" / "mpnn" / "result.json").exists()


def test_master_node_keeps_the_invariances_and_reaches_across_the_molecule():
    torch.manual_seed(0)
    molecules = generate_molecules(np.random.default_rng(4), 3, 8, 14)
    model = mpnn.MPNN(2, 8, passes=2, master_node=True)
    together = model(batch_molecules(molecules, ("gap", "pi_energy")))
    alone = torch.cat([model(batch_molecules([m], ("gap", "pi_energy"))) for m in molecules])
    assert torch.allclose(together, alone, atol=1e-5)
    g = batch_molecules(molecules[:1], ("gap", "pi_energy"))
    perm = torch.randperm(g.x.shape[0])
    shuffled = mpnn.GraphBatch(
        g.x[perm], torch.argsort(perm)[g.edge_index], g.edge_attr, g.batch[perm], g.y, 1
    )
    assert torch.allclose(model(g), model(shuffled), atol=1e-5)
    # With the master node, two passes carry an atom's state to every other atom, however far.
    h = torch.zeros(g.x.shape[0], 8)
    h0, edges, attr = model._with_master_nodes(g, h)
    assert h0.shape[0] == g.x.shape[0] + 1 and edges.shape[1] == g.edge_index.shape[1] + 2 * g.x.shape[0]
    assert attr[-1, -1] == 1 and attr[0, -1] == 0


def test_test_molecules_are_new():
    """No test molecule repeats a training molecule or another test molecule (up to numbering),
    and sizes that cannot give enough new molecules are refused."""
    from dataclasses import replace
    from types import SimpleNamespace

    from landmarks.data.molecules import graph_hash
    from landmarks.errors import UserInputError

    metrics: dict = {}
    run = SimpleNamespace(data_dir=None, rng=lambda *_: np.random.default_rng(0), metric=metrics.__setitem__)
    cfg = replace(mpnn.PRESETS["quick"], train=300, test=100, min_atoms=6, max_atoms=12)
    train, test = mpnn._load(cfg, run)
    assert len(train) == 300 and len(test) == 100
    train_keys, test_keys = {graph_hash(m) for m in train}, [graph_hash(m) for m in test]
    assert len(set(test_keys)) == 100 and not train_keys & set(test_keys)
    assert metrics["test_repeats_skipped"] > 0  # at these sizes repeats do come up
    with pytest.raises(UserInputError, match="too few distinct molecules"):
        mpnn._load(replace(cfg, min_atoms=6, max_atoms=6), run)
