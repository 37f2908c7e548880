"""landmarks.data.molecules: Hückel targets, generated skeletons, batching, the SDF reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from landmarks.data.errors import DataFormatError
from landmarks.data.molecules import (
    batch_molecules,
    generate_molecules,
    huckel_targets,
    random_conjugated_molecule,
    read_sdf,
)


def _ring(n: int) -> np.ndarray:
    a = np.zeros((n, n))
    for i in range(n):
        a[i, (i + 1) % n] = a[(i + 1) % n, i] = 1
    return a


def test_huckel_benzene_butadiene_and_allyl():
    benzene = huckel_targets(_ring(6))  # λ = 2, 1, 1, −1, −1, −2
    assert benzene["gap"] == pytest.approx(2.0) and benzene["pi_energy"] == pytest.approx(-8.0)
    chain = np.diag(np.ones(3), 1) + np.diag(np.ones(3), -1)  # butadiene: λ = ±1.618, ±0.618
    butadiene = huckel_targets(chain)
    assert butadiene["gap"] == pytest.approx(2 * 0.6180340, abs=1e-6)
    assert butadiene["pi_energy"] == pytest.approx(-2 * (1.6180340 + 0.6180340), abs=1e-6)
    allyl = huckel_targets(np.diag(np.ones(2), 1) + np.diag(np.ones(2), -1))  # λ = √2, 0, −√2; 3 electrons
    assert allyl["gap"] == pytest.approx(np.sqrt(2)) and allyl["pi_energy"] == pytest.approx(-2 * np.sqrt(2))


def test_generated_molecules_are_connected_with_degree_at_most_three():
    rng = np.random.default_rng(0)
    for m in generate_molecules(rng, 50, 6, 20):
        a = m.adjacency()
        assert a.sum(1).max() <= 3 and np.allclose(a, a.T)
        reach = np.linalg.matrix_power(a + np.eye(m.atoms), m.atoms) > 0
        assert reach.all(), "disconnected"
        assert m.targets == pytest.approx(huckel_targets(a))
    first = generate_molecules(np.random.default_rng(0), 20, 6, 20)
    second = generate_molecules(np.random.default_rng(0), 20, 6, 20)
    assert [m.bonds.tolist() for m in first] == [m.bonds.tolist() for m in second]


def test_ring_closures_make_five_and_six_rings():
    rng = np.random.default_rng(1)
    ring_bonds = sum(int(m.bonds.shape[0] - (m.atoms - 1)) for m in generate_molecules(rng, 100, 10, 20))
    assert ring_bonds > 0
    with pytest.raises(ValueError, match="max_degree"):
        random_conjugated_molecule(rng, 10, max_degree=4)


def test_batching_offsets_edges_and_marks_rings():
    molecules = generate_molecules(np.random.default_rng(2), 3, 5, 8)
    g = batch_molecules(molecules, ("gap",))
    sizes = [m.atoms for m in molecules]
    assert g.x.shape[0] == sum(sizes) and g.graphs == 3
    assert g.edge_index.shape[1] == 2 * sum(len(m.bonds) for m in molecules)
    for k, start in enumerate(np.cumsum([0, *sizes[:-1]])):
        mine = (g.batch[g.edge_index[0]] == k).numpy()
        assert (g.edge_index[:, mine] >= start).all() and (g.edge_index[:, mine] < start + sizes[k]).all()
    assert g.y.shape == (3, 1)


SDF = """mol-1
  generated

  3  2  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0
    1.0000    0.0000    0.0000 C   0  0
    2.0000    0.0000    0.0000 O   0  0
  1  2  1  0
  2  3  2  0
M  END
> <gap>
0.25

$$$$
"""


def test_sdf_reader(tmp_path: Path):
    path = tmp_path / "a.sdf"
    path.write_text(SDF + SDF.replace("mol-1", "mol-2").replace("0.25", "0.5"))
    molecules = read_sdf(path)
    assert len(molecules) == 2
    assert molecules[0].elements == ["C", "C", "O"] and molecules[0].bonds.tolist() == [[0, 1], [1, 2]]
    assert molecules[1].targets == {"gap": 0.5} and molecules[0].bond_types.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("broken", "line", "why"),
    [
        (SDF.replace("  3  2  0", "  x  2  0"), 4, "bad counts line"),
        (SDF.replace(" O   0", " Xe  0"), 7, "bad atom line"),
        (SDF.replace("  2  3  2  0", "  2  9  2  0"), 9, "bad bond"),
        (SDF.replace("0.25", "abc"), 12, "bad value"),
        (SDF.replace("$$$$\n", ""), 1, "record not terminated"),
    ],
)
def test_sdf_reader_refuses_malformed_records_with_the_line(tmp_path: Path, broken: str, line: int, why: str):
    path = tmp_path / "bad.sdf"
    path.write_text(broken)
    with pytest.raises(DataFormatError, match=f"line {line}: {why}"):
        read_sdf(path)


def test_graph_hash_ignores_numbering_and_tells_graphs_apart():
    from landmarks.data.molecules import Molecule, graph_hash

    rng = np.random.default_rng(3)
    molecules = generate_molecules(rng, 40, 6, 14)
    for m in molecules:  # any renumbering of the atoms: the same hash
        perm = rng.permutation(m.atoms)
        where = np.argsort(perm)  # atom i of m is atom where[i] of the renumbered one
        renumbered = Molecule([m.elements[i] for i in perm], where[m.bonds][:, ::-1], m.bond_types, m.targets)
        assert graph_hash(renumbered) == graph_hash(m)
    # different graphs of the same size and bond count: a 6-ring and a 5-ring with a tail
    kind = np.full(6, 4)
    ring6 = Molecule(["C"] * 6, np.array([[i, (i + 1) % 6] for i in range(6)]), kind, {})
    ring5 = Molecule(["C"] * 6, np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 0], [0, 5]]), kind, {})
    assert graph_hash(ring6) != graph_hash(ring5)
    # the bond types count: the same ring with one double bond
    assert graph_hash(Molecule(["C"] * 6, ring6.bonds, np.array([2, 4, 4, 4, 4, 4]), {})) != graph_hash(ring6)
