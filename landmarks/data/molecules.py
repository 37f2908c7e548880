"""Molecular graphs with an exact quantum-chemistry target, and a reader for QM9-style SDF files.

Generated molecules are conjugated hydrocarbons: every atom a carbon with one p orbital in a
single π system, at most 3 bonds per carbon (the rest are hydrogens, left implicit). Hückel
theory gives their π orbitals exactly from the graph alone: the Hamiltonian is H = α I + β A
with A the adjacency matrix, so the orbital energies are α + β λ_k for the eigenvalues λ_k of
A. With α = 0 and energies in units of |β| (β < 0), orbital k has energy −λ_k. The n π
electrons fill the orbitals from the lowest energy (highest λ), two per orbital:

- the HOMO–LUMO gap is λ_HOMO − λ_LUMO (the highest occupied and lowest empty orbitals; for an
  odd n the singly occupied one counts as occupied);
- the total π energy is −Σ_k occupancy_k · λ_k.

Both are global properties of the graph (a spectrum), which is what makes them a fair test of
message passing: a model that sees atoms one at a time cannot know them.

Graphs are batched the way torch_geometric batches them: node features stacked, ``edge_index``
(2, E) with both directions of every bond, offset per graph, and ``batch`` giving each node's
graph.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from landmarks.data.errors import DataFormatError

__all__ = [
    "ELEMENTS",
    "GraphBatch",
    "Molecule",
    "batch_molecules",
    "generate_molecules",
    "graph_hash",
    "huckel_targets",
    "random_conjugated_molecule",
    "read_sdf",
]

ELEMENTS = ("H", "C", "N", "O", "F")  # QM9's elements
BOND_TYPES = 4  # single, double, triple, aromatic (SDF codes 1-4)
MAX_DEGREE = 4  # heavy-atom degree one-hot 0 … 4 (carbons in our generated set reach 3)
NODE_FEATURES = len(ELEMENTS) + MAX_DEGREE + 1
EDGE_FEATURES = BOND_TYPES + 1  # + in a ring


@dataclass
class Molecule:
    """One molecule: element symbols (n,), bonds (m, 2) of atom indices, bond types (m,) in
    1 … 4, and named targets."""

    elements: list[str]
    bonds: np.ndarray
    bond_types: np.ndarray
    targets: dict[str, float]

    @property
    def atoms(self) -> int:
        return len(self.elements)

    def adjacency(self) -> np.ndarray:
        a = np.zeros((self.atoms, self.atoms))
        if len(self.bonds):
            a[self.bonds[:, 0], self.bonds[:, 1]] = 1
            a[self.bonds[:, 1], self.bonds[:, 0]] = 1
        return a


# ---- Hückel theory ----------------------------------------------------------------------------------


def huckel_targets(adjacency: np.ndarray) -> dict[str, float]:
    """HOMO–LUMO gap and total π energy (units of |β|, α = 0) of a neutral π system."""
    n = len(adjacency)
    lam = np.sort(np.linalg.eigvalsh(adjacency))[::-1]  # bonding (high λ) first
    occupancy = np.zeros(n)
    occupancy[: n // 2] = 2
    if n % 2:
        occupancy[n // 2] = 1
    homo = (n + 1) // 2 - 1
    gap = float(lam[homo] - lam[homo + 1]) if homo + 1 < n else 0.0
    return {"gap": gap, "pi_energy": float(-(occupancy * lam).sum())}


# ---- generated conjugated hydrocarbons -------------------------------------------------------------


def _distances(adjacency: np.ndarray) -> np.ndarray:
    """All-pairs shortest path lengths by breadth-first matrix products (inf if unreachable)."""
    n = len(adjacency)
    dist = np.full((n, n), np.inf)
    np.fill_diagonal(dist, 0)
    reach = np.eye(n, dtype=bool)
    frontier = np.eye(n, dtype=bool)
    for d in range(1, n):
        frontier = (frontier.astype(np.int64) @ adjacency.astype(np.int64) > 0) & ~reach
        if not frontier.any():
            break
        dist[frontier] = d
        reach |= frontier
    return dist


def random_conjugated_molecule(rng: np.random.Generator, atoms: int, max_degree: int = 3) -> Molecule:
    """A connected carbon skeleton of ``atoms`` atoms with at most ``max_degree`` bonds each: a
    random tree grown atom by atom, then ring closures that make 5- and 6-membered rings (bonds
    between atoms 4 or 5 bonds apart), as in polycyclic conjugated hydrocarbons."""
    if atoms < 1:
        raise ValueError(f"a molecule needs at least 1 atom, got {atoms}")
    if not 2 <= max_degree <= 3:
        raise ValueError(f"max_degree must be 2 or 3 for a conjugated carbon skeleton, got {max_degree}")
    degree = np.zeros(atoms, dtype=np.int64)
    bonds: list[tuple[int, int]] = []
    for i in range(1, atoms):
        free = np.flatnonzero(degree[:i] < max_degree)
        j = int(rng.choice(free))
        bonds.append((j, i))
        degree[i] += 1
        degree[j] += 1
    a = np.zeros((atoms, atoms))
    for u, v in bonds:
        a[u, v] = a[v, u] = 1
    for _ in range(int(rng.integers(0, atoms // 3 + 1))):  # ring closures
        dist = _distances(a)
        free = degree < max_degree
        candidates = np.argwhere(np.triu((dist == 4) | (dist == 5), 1) & free[:, None] & free[None, :])
        if not len(candidates):
            break
        u, v = candidates[rng.integers(len(candidates))]
        bonds.append((int(u), int(v)))
        a[u, v] = a[v, u] = 1
        degree[u] += 1
        degree[v] += 1
    bond_array = np.array(bonds, dtype=np.int64).reshape(-1, 2)
    return Molecule(
        elements=["C"] * atoms,
        bonds=bond_array,
        bond_types=np.full(len(bond_array), 4, dtype=np.int64),  # conjugated: aromatic-type bonds
        targets=huckel_targets(a),
    )


def generate_molecules(
    rng: np.random.Generator, count: int, min_atoms: int = 6, max_atoms: int = 20, max_degree: int = 3
) -> list[Molecule]:
    """``count`` generated molecules with sizes uniform in [min_atoms, max_atoms]."""
    if not 1 <= min_atoms <= max_atoms:
        raise ValueError(f"need 1 <= min_atoms <= max_atoms, got {min_atoms} and {max_atoms}")
    sizes = rng.integers(min_atoms, max_atoms + 1, count)
    return [random_conjugated_molecule(rng, int(n), max_degree) for n in sizes]


def graph_hash(molecule: Molecule) -> str:
    """A hash that isomorphic molecules share: Weisfeiler–Lehman colour refinement over the
    elements and bond types, run until the colouring stops splitting.

    Equal molecules (the same graph under any numbering of the atoms) always get the same hash,
    so a different hash proves two molecules differ. The converse can fail (rare graphs that
    colour refinement cannot tell apart), which errs on the safe side when the hash is used to
    keep test molecules out of the training set: it can only drop more of them.
    """
    neighbours: list[list[tuple[int, int]]] = [[] for _ in range(molecule.atoms)]
    for (u, v), kind in zip(molecule.bonds.tolist(), molecule.bond_types.tolist(), strict=True):
        neighbours[u].append((kind, v))
        neighbours[v].append((kind, u))
    colours = [f"{element}{len(n)}" for element, n in zip(molecule.elements, neighbours, strict=True)]
    for _ in range(molecule.atoms):
        signatures = [
            colour + "|" + ",".join(sorted(f"{kind}:{colours[w]}" for kind, w in around))
            for colour, around in zip(colours, neighbours, strict=True)
        ]
        palette = {sig: hashlib.blake2b(sig.encode(), digest_size=8).hexdigest() for sig in set(signatures)}
        refined = [palette[sig] for sig in signatures]
        split = len(palette) > len(set(colours))
        colours = refined
        if not split:
            break
    return hashlib.blake2b(" ".join(sorted(colours)).encode(), digest_size=16).hexdigest()


# ---- batching ----------------------------------------------------------------------------------------


def _rings(molecule: Molecule) -> np.ndarray:
    """Whether each bond lies on a ring: it does iff removing it leaves its ends connected."""
    a = molecule.adjacency()
    out = np.zeros(len(molecule.bonds), dtype=bool)
    for k, (u, v) in enumerate(molecule.bonds):
        a[u, v] = a[v, u] = 0
        out[k] = np.isfinite(_distances(a)[u, v])
        a[u, v] = a[v, u] = 1
    return out


@dataclass
class GraphBatch:
    """Graphs stacked as torch_geometric stacks them."""

    x: Tensor  # (nodes, NODE_FEATURES)
    edge_index: Tensor  # (2, edges): source, target; both directions of every bond
    edge_attr: Tensor  # (edges, EDGE_FEATURES)
    batch: Tensor  # (nodes,): the graph of each node
    y: Tensor  # (graphs, targets)
    graphs: int

    def to(self, device: torch.device | str) -> GraphBatch:
        return GraphBatch(
            self.x.to(device),
            self.edge_index.to(device),
            self.edge_attr.to(device),
            self.batch.to(device),
            self.y.to(device),
            self.graphs,
        )


def featurize(molecule: Molecule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node features (element and heavy-atom degree one-hot), directed edges, edge features
    (bond type one-hot and a ring flag)."""
    n = molecule.atoms
    x = np.zeros((n, NODE_FEATURES), dtype=np.float32)
    x[np.arange(n), [ELEMENTS.index(e) for e in molecule.elements]] = 1
    degree = molecule.adjacency().sum(1).astype(np.int64)
    x[np.arange(n), len(ELEMENTS) + np.minimum(degree, MAX_DEGREE)] = 1
    bonds = molecule.bonds
    edges = np.concatenate([bonds, bonds[:, ::-1]]).T if len(bonds) else np.zeros((2, 0), dtype=np.int64)
    attr = np.zeros((len(bonds), EDGE_FEATURES), dtype=np.float32)
    attr[np.arange(len(bonds)), molecule.bond_types - 1] = 1
    attr[:, BOND_TYPES] = _rings(molecule)
    return x, edges, np.concatenate([attr, attr])


def batch_molecules(molecules: Sequence[Molecule], targets: Sequence[str]) -> GraphBatch:
    """Stack molecules into one batch, offsetting each graph's edge indices by its first node."""
    xs, edges, attrs, owner = [], [], [], []
    offset = 0
    for g, m in enumerate(molecules):
        x, e, a = featurize(m)
        xs.append(x)
        edges.append(e + offset)
        attrs.append(a)
        owner.append(np.full(m.atoms, g))
        offset += m.atoms
    y = np.array([[m.targets[t] for t in targets] for m in molecules], dtype=np.float32)
    return GraphBatch(
        torch.from_numpy(np.concatenate(xs)),
        torch.from_numpy(np.concatenate(edges, 1).astype(np.int64)),
        torch.from_numpy(np.concatenate(attrs)),
        torch.from_numpy(np.concatenate(owner).astype(np.int64)),
        torch.from_numpy(y).reshape(len(molecules), len(targets)),
        len(molecules),
    )


# ---- QM9-style SDF ------------------------------------------------------------------------------------


def read_sdf(path: Path) -> list[Molecule]:
    """Molecules from an SDF file (V2000 molfiles separated by ``$$$$``): atoms and bonds from
    the connection table, targets from ``> <name>`` data items. Malformed records are refused
    with the line number."""
    lines = Path(path).read_text().splitlines()
    molecules: list[Molecule] = []
    i = 0

    def fail(line: int, why: str) -> DataFormatError:
        return DataFormatError(f"{path}: line {line + 1}: {why}")

    while i < len(lines):
        if not lines[i].strip() and all(not s.strip() for s in lines[i:]):
            break
        start = i
        if i + 3 >= len(lines):
            raise fail(i, "truncated record: a molfile needs 3 header lines and a counts line")
        counts = lines[i + 3]
        try:
            n_atoms, n_bonds = int(counts[0:3]), int(counts[3:6])
        except ValueError:
            raise fail(
                i + 3, f"bad counts line {counts!r}: expected the atom and bond counts in columns 1-6"
            ) from None
        i += 4
        elements = []
        for k in range(n_atoms):
            if i >= len(lines):
                raise fail(i, f"truncated atom block: {k} of {n_atoms} atoms")
            parts = lines[i].split()
            if len(parts) < 4 or parts[3] not in ELEMENTS:
                raise fail(i, f"bad atom line {lines[i]!r}: expected x y z and one of {', '.join(ELEMENTS)}")
            elements.append(parts[3])
            i += 1
        bonds, types = [], []
        for k in range(n_bonds):
            if i >= len(lines):
                raise fail(i, f"truncated bond block: {k} of {n_bonds} bonds")
            try:
                u, v, t = int(lines[i][0:3]), int(lines[i][3:6]), int(lines[i][6:9])
            except ValueError:
                raise fail(
                    i, f"bad bond line {lines[i]!r}: expected two atom numbers and a bond type"
                ) from None
            if not (1 <= u <= n_atoms and 1 <= v <= n_atoms and u != v and 1 <= t <= BOND_TYPES):
                raise fail(i, f"bad bond {u}-{v} of type {t}: atoms must lie in 1..{n_atoms}, types in 1..4")
            bonds.append((u - 1, v - 1))
            types.append(t)
            i += 1
        targets: dict[str, float] = {}
        while i < len(lines) and lines[i].strip() != "$$$$":
            line = lines[i]
            if line.startswith(">") and "<" in line and ">" in line[1:]:
                name = line[line.index("<") + 1 : line.rindex(">")]
                i += 1
                try:
                    targets[name] = float(lines[i].strip())
                except (ValueError, IndexError):
                    raise fail(i, f"bad value for data item <{name}>: expected a number") from None
            i += 1
        if i >= len(lines):
            raise fail(start, "record not terminated by $$$$")
        i += 1
        molecules.append(
            Molecule(
                elements,
                np.array(bonds, dtype=np.int64).reshape(-1, 2),
                np.array(types, dtype=np.int64),
                targets,
            )
        )
    if not molecules:
        raise DataFormatError(f"{path}: no molecules")
    return molecules
