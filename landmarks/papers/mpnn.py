"""Neural Message Passing for Quantum Chemistry (Gilmer, Schoenholz, Riley, Vinyals, Dahl, 2017).

A molecule is a graph; a property of the molecule is a function of the whole graph. The paper
unifies graph networks as *message passing* (Sec. 2): every atom v holds a state h_v, and for
T passes

    m_v^{t+1} = Σ_{w ∈ N(v)} M_t(h_v^t, h_w^t, e_vw)        (Eq. 1, the message)
    h_v^{t+1} = U_t(h_v^t, m_v^{t+1})                         (Eq. 2, the update)

then a readout ŷ = R({h_v^T}) (Eq. 3) that must not depend on the order of the atoms. The
paper's best model (Sec. 5) uses:

- the *edge network* message M(h_v, h_w, e_vw) = A(e_vw) h_w, A a neural network mapping the
  bond's features to a d × d matrix (torch_geometric's ``NNConv``);
- a GRU as the update, weights shared across passes;
- the *set2set* readout of Order Matters (``landmarks.nn.pointer.Set2Set``): attention over
  the atoms, T' times, with an LSTM that carries what has been read.

``reproduce`` predicts Hückel π energies of generated conjugated hydrocarbons
(``landmarks.data.molecules``: exact targets from the graph's spectrum) and compares the MPNN
with predicting the mean, with a no-message-passing model (DeepSets on atom features), and with
a sum readout in place of set2set. With ``--data-dir`` it reads QM9-style SDF files instead
and predicts the data items named by ``--set targets=...``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.data.errors import DataFormatError
from landmarks.data.molecules import (
    EDGE_FEATURES,
    NODE_FEATURES,
    GraphBatch,
    Molecule,
    batch_molecules,
    generate_molecules,
    graph_hash,
    read_sdf,
)
from landmarks.engine import Run, fit
from landmarks.errors import UserInputError
from landmarks.nn.pointer import Set2Set
from landmarks.registry import Card, ClaimSpec

__all__ = [
    "CARD",
    "MPNN",
    "PRESETS",
    "Config",
    "DeepSets",
    "EdgeNetwork",
    "pad_by_graph",
    "reproduce",
]

USES_DATA_DIR = True  # --data-dir: QM9-style .sdf files instead of the generated molecules
GENERATED_TARGETS = ("gap", "pi_energy")  # what huckel_targets computes for generated molecules

CARD = Card(
    citation=(
        "Justin Gilmer, Samuel S. Schoenholz, Patrick F. Riley, Oriol Vinyals, George E. Dahl. "
        "Neural Message Passing for Quantum Chemistry. ICML 2017. arXiv:1704.01212."
    ),
    takeaways=[
        "Graph networks for molecules share one form: atoms pass messages along bonds for T "
        "steps, update their states, and an order-invariant readout maps the states to a property.",
        "The edge network turns each bond's features into a matrix that transforms the "
        "neighbour's state, so what flows along a bond depends on the bond.",
        "Message passing learns global properties that no model of atoms taken one at a time "
        "can, and a set2set readout beats a plain sum.",
    ],
    claims=[
        ClaimSpec(
            "MPNN test MAE on the HOMO–LUMO gap over the predict-the-mean MAE",
            "<= 0.2",
            "Table 2: the enn-s2s MPNN reaches chemical accuracy on 11 of 13 QM9 targets, errors "
            "far below the targets' spread",
        ),
        ClaimSpec(
            "MPNN test MAE on the gap over that of a no-message-passing baseline (DeepSets on atom features)",
            "<= 0.5",
            "Table 2 and Sec. 7: message passing on the graph beats models that see no bonds",
        ),
        ClaimSpec(
            "set2set readout MAE on the gap minus sum readout MAE (same MPNN otherwise)",
            "<= 0",
            "Sec. 5.3 and 8: the set2set readout is part of the best model (enn-s2s)",
        ),
    ],
    keeps=[
        "the enn-s2s MPNN of Sec. 5: edge-network messages A(e_vw) h_w summed over neighbours, "
        "a GRU update shared across T = 3 passes, a set2set readout of 3 steps",
        "targets computed exactly from the molecular graph, so every error is the model's",
        "a QM9-style SDF reader (``--data-dir``) for users with the real data",
    ],
    shrinks=[
        "QM9's 134 k molecules with DFT targets → 4,000 generated conjugated hydrocarbons of 6 to "
        "20 carbons with Hückel π targets (gap and total π energy, units of |β|); 1,000 new ones to test",
        "hidden size 64 (paper: 200), no virtual edges or master node, 4,000 Adam steps of 64 "
        "molecules (64 epochs)",
    ],
    figures={
        "Eq. 1-3": "m_v = Σ_w M(h_v, h_w, e_vw); h_v' = U(h_v, m_v); ŷ = R({h_v^T})",
        "Table 2, enn-s2s": "chemical accuracy on 11 of 13 QM9 targets",
        "Sec. 5.1, edge network": "M(h_v, h_w, e_vw) = A(e_vw) h_w",
    },
    notes=(
        "Atom features: element one-hot (H, C, N, O, F) and heavy-atom degree one-hot; bond "
        "features: bond type one-hot (the generated molecules' bonds are all conjugated, "
        "aromatic-type) and whether the bond lies on a ring. Targets are standardized on the "
        "training set; MAE is reported in the targets' units. The default trains on the gap alone, "
        "one model per target as for the paper's best results; ``--set targets=gap,pi_energy`` "
        "trains them jointly (in development the joint MPNN learned the nearly additive total π "
        "energy worse than DeepSets did, 0.70-0.97 against 0.22 |β| after 1,500 steps). Claim 1 "
        "is not reproduced on new molecules: on seed 0 the MPNN's gap MAE (set2set readout, the "
        "model claims 1 and 2 score) is 0.104 |β| against 0.234 for the mean (ratio 0.45) and "
        "0.163 for DeepSets; with a sum readout it is 0.097. On the earlier test set, which "
        "repeated training molecules (see below), it looked a near miss: 0.064 |β| against 0.284 "
        "(ratio 0.225). There it was not overfitting (training RMSE about 0.074) and not "
        "capacity: width 96 gave 0.063 (0.222), and 5 passes did no better than 3 in the sweep. "
        "The gap is a property of the whole spectrum (26 % of these molecules have a zero gap, "
        "degenerate non-bonding orbitals that depend on the graph's global balance), while "
        "3 passes let an atom see 3 bonds away, and message passing cannot tell apart graphs "
        "that look alike locally (the Weisfeiler-Lehman limit); the paper's own remedies for "
        "long range are virtual edges and a master node; the master node is built "
        "(``--set master_node=true``) but off by default: tried once after the default had "
        "missed, on seed 0 it gave 0.0563 |β|, a ratio of 0.198 against 0.225 without it, too "
        "close to the threshold to count as a reproduction chosen after seeing the miss. Every model "
        "trains with the same recipe (Adam, cosine decay, same batches, same steps). DeepSets "
        "sums an MLP of each atom's features and maps the sum by another MLP: it knows the "
        "count of atoms of each degree and of ring bonds' ends, but not how atoms are joined. "
        "Every test molecule is new: one isomorphic to a training molecule, or to an earlier test "
        "molecule, is skipped and another drawn (``graph_hash``, Weisfeiler-Lehman colour "
        "refinement; the count skipped is the metric test_repeats_skipped). Until 2026-11-29 "
        "this was not so: 399 of seed 0's 1,000 test molecules repeated a training molecule "
        "(small graphs come up often), and a lookup table of the training molecules, with no "
        "learning, scored a test MAE of 0.140 |β| against 0.284 for the mean. The development "
        "numbers above (0.064, 0.063, 0.0563 |β| and their ratios) were measured on that test set."
    ),
)


@dataclass(frozen=True)
class Config:
    train: int = 4000
    test: int = 1000
    min_atoms: int = 6
    max_atoms: int = 20
    max_degree: int = 3
    targets: tuple[str, ...] = ("gap",)  # one model per target, as for the paper's best results
    claim_target: str = "gap"
    hidden: int = 64
    passes: int = 3  # T
    readout_steps: int = 3  # set2set's processing steps
    master_node: bool = False  # Sec. 5.2's virtual master node, joined to every atom
    batch: int = 64
    steps: int = 4000
    lr: float = 2e-3
    eval_every: int = 500
    passes_sweep: tuple[int, ...] = (0, 1, 2, 3, 5)
    sweep_steps: int = 1000

    def validate(self) -> None:
        for name in ("train", "test", "hidden", "batch", "steps", "readout_steps", "sweep_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0 (0: off), got {self.eval_every}")
        if self.passes < 0 or any(t < 0 for t in self.passes_sweep):
            raise ValueError(f"passes must be >= 0, got {self.passes} and {self.passes_sweep}")
        if not 1 <= self.min_atoms <= self.max_atoms:
            raise ValueError(f"need 1 <= min_atoms <= max_atoms, got {self.min_atoms} and {self.max_atoms}")
        if self.max_degree > 3:
            raise ValueError(
                f"max_degree must be <= 3: a conjugated carbon has one p orbital left for the π "
                f"system, so at most 3 σ bonds; got {self.max_degree}"
            )
        if self.max_degree < 2:
            raise ValueError(f"max_degree must be >= 2 (a chain), got {self.max_degree}")
        if not self.targets or self.claim_target not in self.targets:
            raise ValueError(f"claim_target {self.claim_target!r} must be one of targets {self.targets}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


PRESETS = {
    "default": Config(),
    "quick": Config(
        train=64,
        test=32,
        max_atoms=10,
        hidden=8,
        batch=16,
        steps=4,
        eval_every=2,
        passes_sweep=(0, 1),
        sweep_steps=2,
    ),
}


# ---- message passing (Sec. 2 and 5) ----------------------------------------------------------------


class EdgeNetwork(nn.Module):
    """One message pass of Sec. 5.1: m_v = Σ_{w → v} h_w A(e_wv), A(e) a d × d matrix from an MLP
    of the bond's features. Equals torch_geometric's ``NNConv(d, d, nn, aggr="add",
    root_weight=False, bias=False)`` with this module's ``nn``."""

    def __init__(self, edge_features: int, size: int, hidden: int = 64) -> None:
        super().__init__()
        self.size = size
        self.nn = nn.Sequential(nn.Linear(edge_features, hidden), nn.ReLU(), nn.Linear(hidden, size * size))

    def matrices(self, edge_attr: Tensor) -> tuple[Tensor, Tensor]:
        """A(e), computed once and reused by every pass: the matrices of the distinct feature
        rows (U, d, d) and each edge's row (E,). Bonds with equal features get equal matrices,
        so the MLP runs once per distinct row (a handful for bond types; every edge for
        continuous features such as distances)."""
        distinct, kind = torch.unique(edge_attr, dim=0, return_inverse=True)
        return self.nn(distinct).view(-1, self.size, self.size), kind

    def forward(self, h: Tensor, edge_index: Tensor, a: tuple[Tensor, Tensor]) -> Tensor:
        source, target = edge_index
        matrices, kind = a
        if len(matrices) * len(h) <= 2 * len(kind):  # few kinds: transform every atom by each once
            messages = torch.matmul(h, matrices)[kind, source]  # (U, N, d) → h_w A(e_wv)  (E, d)
        else:
            messages = torch.bmm(h[source].unsqueeze(1), matrices[kind]).squeeze(1)  # (E, d)
        return torch.zeros_like(h).index_add_(0, target, messages)  # Σ over incoming edges  (N, d)


def pad_by_graph(h: Tensor, batch: Tensor, graphs: int) -> tuple[Tensor, Tensor]:
    """Stacked node states (N, d) → (G, n_max, d) and a validity mask (G, n_max)."""
    counts = torch.bincount(batch, minlength=graphs)
    first = torch.cumsum(counts, 0) - counts
    position = torch.arange(len(batch), device=h.device) - first[batch]
    padded = h.new_zeros(graphs, int(counts.max()), h.shape[1])
    padded[batch, position] = h
    valid = torch.zeros(graphs, padded.shape[1], dtype=torch.bool, device=h.device)
    valid[batch, position] = True
    return padded, valid


class MPNN(nn.Module):
    """Embed atoms, T passes of edge-network messages and a shared GRU update, then a set2set
    (or sum) readout and an MLP to the targets.

    With ``master_node`` (Sec. 5.2, virtual graph elements), every molecule gets one more node,
    joined to each of its atoms by edges of a kind of their own, so that information crosses
    the whole molecule in two passes; the readout still reads the atoms."""

    def __init__(
        self,
        outputs: int,
        size: int,
        passes: int,
        readout: str = "set2set",
        readout_steps: int = 3,
        master_node: bool = False,
    ) -> None:
        super().__init__()
        if readout not in ("set2set", "sum"):
            raise ValueError(f"readout must be 'set2set' or 'sum', got {readout!r}")
        self.passes, self.readout, self.master_node = passes, readout, master_node
        self.embed = nn.Linear(NODE_FEATURES, size)
        self.message = EdgeNetwork(EDGE_FEATURES + int(master_node), size)
        self.update = nn.GRUCell(size, size)  # U: shared across passes (Sec. 5.2)
        self.master = nn.Parameter(torch.zeros(size)) if master_node else None  # its first state
        self.set2set = Set2Set(size, readout_steps) if readout == "set2set" else None
        width = 2 * size if readout == "set2set" else size
        self.head = nn.Sequential(nn.Linear(width, size), nn.ReLU(), nn.Linear(size, outputs))

    def _with_master_nodes(self, g: GraphBatch, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Node states with one master node per graph appended, the edges, the edge features
        (one more column, set on the virtual edges only)."""
        atoms = len(h)
        masters = atoms + g.batch  # each atom's master node index
        nodes = torch.arange(atoms, device=h.device)
        edge_index = torch.cat(
            [g.edge_index, torch.stack([nodes, masters]), torch.stack([masters, nodes])], 1
        )
        real = F.pad(g.edge_attr, (0, 1))
        virtual = F.one_hot(torch.full((2 * atoms,), real.shape[1] - 1, device=h.device), real.shape[1])
        h = torch.cat([h, self.master.expand(g.graphs, -1)])
        return h, edge_index, torch.cat([real, virtual.to(real.dtype)])

    def forward(self, g: GraphBatch) -> Tensor:
        h = torch.relu(self.embed(g.x))
        atoms = len(h)
        edge_index, edge_attr = g.edge_index, g.edge_attr
        if self.master is not None:
            h, edge_index, edge_attr = self._with_master_nodes(g, h)
        a = self.message.matrices(edge_attr)
        for _ in range(self.passes):
            h = self.update(self.message(h, edge_index, a), h)  # Eq. 1 and 2
        h = h[:atoms]
        if self.set2set is not None:
            padded, valid = pad_by_graph(h, g.batch, g.graphs)
            pooled, _ = self.set2set(padded, valid)  # Eq. 3: R = set2set
        else:
            pooled = torch.zeros(g.graphs, h.shape[1], device=h.device).index_add_(0, g.batch, h)
        return self.head(pooled)


class DeepSets(nn.Module):
    """No messages: ρ(Σ_v φ(x_v)). Sees each atom's features, never the bonds between them."""

    def __init__(self, outputs: int, size: int) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(NODE_FEATURES, size), nn.ReLU(), nn.Linear(size, size), nn.ReLU())
        self.rho = nn.Sequential(nn.Linear(size, size), nn.ReLU(), nn.Linear(size, outputs))

    def forward(self, g: GraphBatch) -> Tensor:
        pooled = torch.zeros(g.graphs, self.phi[-2].out_features, device=g.x.device).index_add_(
            0, g.batch, self.phi(g.x)
        )
        return self.rho(pooled)


# ---- the experiment -------------------------------------------------------------------------------


def _load(cfg: Config, run: Run) -> tuple[list[Molecule], list[Molecule]]:
    """The generated molecules, or with ``--data-dir`` the molecules of its .sdf files, split
    into training and test sets. Target names the data lacks are refused before any training."""
    if run.data_dir is None:
        unknown = [t for t in cfg.targets if t not in GENERATED_TARGETS]
        if unknown:
            raise UserInputError(
                f"--set targets: generated molecules have no target {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(GENERATED_TARGETS)} (other names need SDF files with --data-dir)"
            )
        rng = run.rng("molecules")

        def draw(n: int) -> list[Molecule]:
            return generate_molecules(rng, n, cfg.min_atoms, cfg.max_atoms, cfg.max_degree)

        molecules = draw(cfg.train + cfg.test)
        train = molecules[: cfg.train]
        # Small graphs come up again and again (about 40 % of the test draws repeat a training
        # molecule at the default sizes): a test molecule must be new, as QM9's molecules are, or
        # the test would reward remembering. Repeats are skipped and more are drawn.
        seen = {graph_hash(m) for m in train}
        test, pool, skipped = [], molecules[cfg.train :], 0
        for _ in range(100):
            for m in pool:
                key = graph_hash(m)
                if key in seen:
                    skipped += 1
                    continue
                seen.add(key)
                test.append(m)
                if len(test) == cfg.test:
                    run.metric("test_repeats_skipped", skipped)
                    return train, test
            pool = draw(cfg.test)
        raise UserInputError(
            f"--set min_atoms={cfg.min_atoms} max_atoms={cfg.max_atoms}: these sizes give too few "
            f"distinct molecules for {cfg.test} new test molecules beside the {cfg.train} training "
            f"ones (found {len(test)}); allow larger molecules or ask for fewer"
        )
    files = sorted(run.data_dir.glob("*.sdf"))
    if not files:
        raise DataFormatError(f"--data-dir {run.data_dir}: no .sdf files found")
    molecules = [m for f in files for m in read_sdf(f)]
    if len(molecules) < 3:
        raise DataFormatError(
            f"--data-dir {run.data_dir}: {len(molecules)} molecule(s); need at least 3 (2 to train on, 1 to test)"
        )
    shared = set.intersection(*(set(m.targets) for m in molecules))
    missing = [t for t in cfg.targets if t not in shared]
    if missing:
        have = ", ".join(sorted(shared)) or "none"
        raise DataFormatError(
            f"--data-dir {run.data_dir}: not every molecule carries the data items "
            f"{', '.join(map(repr, missing))}; items every molecule carries: {have}. Choose targets "
            "from those with --set targets=NAME,... --set claim_target=NAME"
        )
    order = run.rng("split").permutation(len(molecules))
    n_test = max(1, min(cfg.test, len(molecules) // 5))
    return [molecules[i] for i in order[n_test:]], [molecules[i] for i in order[:n_test]]


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    start = time.perf_counter()
    train_set, test_set = _load(cfg, run)
    k = len(cfg.targets)
    chunk = max(1, len(train_set) // cfg.batch)
    # Pre-batch the training set once per epoch order (graphs are small; featurizing is the cost).
    order = run.rng("order").permutation(len(train_set))
    batches = [
        batch_molecules([train_set[i] for i in order[j * cfg.batch : (j + 1) * cfg.batch]], cfg.targets).to(
            run.device
        )
        for j in range(chunk)
    ]
    test = batch_molecules(test_set, cfg.targets).to(run.device)
    y_train = torch.cat([b.y for b in batches])
    mean, std = y_train.mean(0), y_train.std(0).clamp_min(1e-6)
    data_seconds = time.perf_counter() - start
    run.log(
        f"{len(train_set)} training and {len(test_set)} test molecules, "
        f"{float(np.mean([m.atoms for m in train_set])):.1f} atoms on average ({data_seconds:.1f} s)"
    )

    def batch_fn(step: int) -> GraphBatch:
        return batches[step % len(batches)]

    def loss_fn(model: nn.Module, g: GraphBatch) -> Tensor:
        return F.mse_loss(model(g), (g.y - mean) / std)

    def mae(model: nn.Module) -> Tensor:
        with torch.no_grad():
            return ((model(test) * std + mean - test.y).abs()).mean(0)  # (targets,)

    def eval_fn(model: nn.Module) -> dict[str, float]:
        return {f"mae_{t}": float(v) for t, v in zip(cfg.targets, mae(model), strict=True)}

    models: dict[str, nn.Module] = {}

    def train(label: str, name: str, model: nn.Module, steps: int) -> Tensor:
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        history = fit(
            run,
            name,
            model.to(run.device),
            optimizer,
            steps=steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            scheduler=scheduler,
            eval_fn=eval_fn,
            eval_every=cfg.eval_every,
        )
        models[label] = model
        run.log(f"{label}: {history.seconds:.1f} s")
        return mae(model)

    results = {"predict the mean": (mean - test.y).abs().mean(0)}
    for label, name, model in (
        ("DeepSets (no messages)", "deepsets", DeepSets(k, cfg.hidden)),
        (
            "MPNN, sum readout",
            "mpnn-sum",
            MPNN(k, cfg.hidden, cfg.passes, "sum", master_node=cfg.master_node),
        ),
        (
            "MPNN, set2set readout",
            "mpnn-set2set",
            MPNN(k, cfg.hidden, cfg.passes, "set2set", cfg.readout_steps, cfg.master_node),
        ),
    ):
        results[label] = train(label, name, model, cfg.steps)
    by_passes = {
        t: train(
            f"T = {t}",
            f"passes-{t}",
            MPNN(k, cfg.hidden, t, "set2set", cfg.readout_steps, cfg.master_node),
            cfg.sweep_steps,
        )
        for t in cfg.passes_sweep
    }
    seconds = time.perf_counter() - start
    table = {
        name: {t: float(v) for t, v in zip(cfg.targets, values, strict=True)}
        for name, values in results.items()
    }
    for name, row in table.items():
        run.log(f"{name}: test MAE " + ", ".join(f"{t} {v:.4f}" for t, v in row.items()))

    c = cfg.claim_target
    run.metric("test_mae", table)
    run.metric(
        "test_mae_by_passes",
        {
            str(t): {n: float(v) for n, v in zip(cfg.targets, values, strict=True)}
            for t, values in by_passes.items()
        },
    )
    run.metric("target_std", {t: float(v) for t, v in zip(cfg.targets, std, strict=True)})
    run.metric("seconds", round(seconds, 2))
    mpnn = table["MPNN, set2set readout"][c]
    run.check(CARD.claims[0], mpnn / table["predict the mean"][c])
    run.check(CARD.claims[1], mpnn / table["DeepSets (no messages)"][c])
    run.check(CARD.claims[2], mpnn - table["MPNN, sum readout"][c])

    with torch.no_grad():
        predictions = {
            name: models[name](test) * std + mean
            for name in ("MPNN, set2set readout", "DeepSets (no messages)")
        }
    _plot(run, cfg, table, by_passes, predictions, test.y)


def _plot(
    run: Run,
    cfg: Config,
    table: dict[str, dict[str, float]],
    by_passes: dict[int, Tensor],
    predictions: dict[str, Tensor],
    exact: Tensor,
) -> None:
    from landmarks.plots import plt

    fig, (bar_ax, scatter_ax, passes_ax) = plt.subplots(1, 3, figsize=(16, 4.4))
    names = list(table)
    width = 0.8 / len(cfg.targets)
    for i, t in enumerate(cfg.targets):
        bar_ax.bar(
            np.arange(len(names)) + (i + 0.5) * width - 0.4, [table[n][t] for n in names], width, label=t
        )
    bar_ax.set_xticks(
        range(len(names)), [n.replace(", ", ",\n").replace(" (", "\n(") for n in names], fontsize=7
    )
    bar_ax.set_ylabel("test MAE (units of |β|)")
    bar_ax.set_yscale("log")
    bar_ax.legend(fontsize=8)
    bar_ax.set_title("test error by model")
    c = cfg.targets.index(cfg.claim_target)
    truth = exact[:, c].cpu().numpy()
    for name, pred in predictions.items():
        scatter_ax.scatter(truth, pred[:, c].cpu().numpy(), s=4, alpha=0.5, label=name)
    lo, hi = float(truth.min()), float(truth.max())
    scatter_ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    scatter_ax.set_xlabel(f"exact {cfg.claim_target} (Hückel)")
    scatter_ax.set_ylabel("predicted")
    scatter_ax.set_title("predictions on test molecules")
    scatter_ax.legend(fontsize=8, markerscale=3)
    passes = sorted(by_passes)
    for i, t in enumerate(cfg.targets):
        passes_ax.plot(passes, [float(by_passes[p][i]) for p in passes], "o-", ms=4, label=t)
    passes_ax.set_xlabel("message passes T")
    passes_ax.set_ylabel(f"test MAE after {cfg.sweep_steps} steps")
    passes_ax.set_yscale("log")
    passes_ax.set_title("how far messages travel")
    passes_ax.legend(fontsize=8)
    run.save_figure(
        fig, "mpnn", "Test MAE by model, predictions against exact targets, and the number of passes"
    )
