"""Neural Turing Machines (Graves, Wayne and Danihelka, 2014).

A neural network coupled to an external memory it reads and writes through attention, all
differentiable, so gradient descent can learn *algorithms*: here, copying.

1. The machine (Sec. 3, Fig. 1): a controller (an LSTM) receives the input and what its read
   heads read on the previous step; from its state it emits the output and, for every head,
   the addressing parameters (key k, strength β, gate g, shift s, sharpening γ) and, for write
   heads, an erase vector e and an add vector a. The addressing and the memory operations are
   ``landmarks.nn.memory``.
2. The copy task (Sec. 4.1): a sequence of random 8-bit vectors, then a delimiter; the machine
   must then output the sequence again, with no input. Trained on lengths 1 to 10 (the paper:
   1 to 20).
3. ``reproduce`` trains the NTM and an LSTM on the same batches, counts wrong bits per
   sequence at length 10 and at length 20 (never seen in training), and draws the heads'
   weightings: the write head sweeps forward through memory while the input arrives, the read
   head sweeps the same rows when the copy is due (Fig. 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.claims import REPRODUCED
from landmarks.engine import Run, derive_seed, fit
from landmarks.nn.memory import address, erase_and_add, read
from landmarks.registry import Card, ClaimSpec

__all__ = [
    "CARD",
    "PRESETS",
    "Config",
    "CopyLSTM",
    "NeuralTuringMachine",
    "bit_errors",
    "copy_task_batch",
    "reproduce",
]

CARD = Card(
    citation=("Alex Graves, Greg Wayne, Ivo Danihelka. Neural Turing Machines. arXiv:1410.5401, 2014."),
    takeaways=[
        "A controller network with an external memory, read and written through soft attention, "
        "is differentiable end to end and learns simple algorithms from examples.",
        "Heads address memory by content (a key compared with every row) and by location (a "
        "shift of the previous weighting), so a head can jump to a remembered item or sweep on.",
        "Learned on copies of up to 20 vectors (10 here), the NTM keeps copying beyond that length, "
        "where an LSTM trained the same way fails.",
    ],
    claims=[
        ClaimSpec(
            "NTM copy error at length 10 (trained on lengths 1-10): wrong bits per sequence",
            "<= 1",
            "Fig. 3: the NTM's copy cost falls to near zero within 200,000 sequences (it learns "
            "much faster than the LSTM)",
        ),
        ClaimSpec(
            "at length 20, never seen in training: NTM wrong bits per sequence minus the LSTM's; "
            "no number unless the NTM copies its training lengths (claim 1)",
            "< 0",
            "Fig. 4 and 5 (trained on lengths 1-20): the NTM copies lengths 30 and 50 with very "
            "few mistakes and 120 with a few errors; the LSTM copies up to length 20 almost "
            "perfectly and degrades rapidly beyond it",
        ),
    ],
    keeps=[
        "the NTM of Sec. 3: an LSTM controller, one read and one write head with content "
        "addressing, interpolation, circular shifts of −1, 0, +1 and sharpening; erase and add "
        "writes; memory rows compared by cosine similarity",
        "the copy task of Sec. 4.1: random 8-bit vectors, a delimiter channel, binary cross-entropy "
        "on the copy",
        "an LSTM baseline trained on the same batches",
    ],
    shrinks=[
        "a 64 × 20 memory (paper: 128 × 20), a 100-unit controller (paper: 100), an LSTM "
        "baseline of 2 layers of 256 (paper: 3 layers of 256)",
        "training lengths 1 to 10 (paper: 1 to 20): length 20, never seen here, is the paper's "
        "longest training length",
        "Adam on batches of 32 instead of RMSProp on single sequences: up to 2 initializations of "
        "at most 3,000 steps (96,000 sequences) each, stopping once the copy is solved on "
        "validation sequences",
    ],
    figures={
        "Fig. 3, copy learning curves": "NTM cost per sequence near 0 bits after ~200k sequences; LSTM far slower",
        "Fig. 4, generalization": "NTM copies lengths 10, 20, 30, 50 and 120 (with a few errors at 120)",
        "Fig. 6, copy heads": "write and read weightings sweep the same memory rows in order",
    },
    notes=(
        "Memory starts at a constant 10⁻⁶ in every cell, the heads' first weightings on row 0, "
        "and the first read vector is learned. Each batch has one length, drawn uniformly from "
        "1 to 10. Errors are counted after thresholding the output probabilities at 0.5, "
        "summed over the copy and averaged over 256 test sequences per length. Training "
        "is unstable in a known way: the NTM sits on a plateau (15-30 wrong bits at length 10) until its "
        "heads discover the sweep, abruptly, at a step that depends on the initialization and the "
        "learning rate (in development, with one initialization per seed: steps 1,250 and "
        "3,250 at lr 10⁻³ on seeds 0 and 1, not within 5,750 on seed 2; at 2·10⁻³ seed 2 "
        "solved it by step 1,500 and seed 1 not within 4,000; with 3 initializations of 2,000 steps, "
        "attempts were often still descending at step 2,000, at 0.14-1.0 wrong bits). So either "
        "model gets up to 2 fresh initializations of at most 3,000 steps, on the same batches, stopping at the first "
        "that solves 256 validation sequences of length 10 (≤ 0.1 wrong bits per sequence on average, "
        "sequences apart from the test ones); the attempt with the lowest validation error is kept, and the "
        "attempts run, the one kept and each one's final validation error are recorded (metric attempts; until 2026-11-29 it held "
        "only the one kept), with the validation sequences behind that error (slips: how many were copied "
        "with any bit wrong, and the worst three by index and wrong bits; recorded since 2026-11-30). Seeds 2 and 4 are misses this way (seed 4 was tried in development; "
        "seeds 0, 1 and 3 are not misses): neither attempt solved length 10 within 3,000 steps (seed 2: 14.8 wrong bits at length 10, seed 4: 12.4, both still falling). "
        "Claim 2 then gets no number, since a copy not learned cannot generalize; the difference is still reported "
        "(bits_at_test_length_ntm_minus_lstm). Until 2026-11-29 it was checked anyway, and seed 2 "
        "passed it with an NTM at 62 of 160 bits wrong against an LSTM at chance (78). The learned sweep holds to "
        "about twice the training length (seeds 0 and 1: 0-0.23 and 0.21-0.66 wrong bits at lengths "
        "15 and 20), then frays (2-3 % of bits wrong at 30, 13-18 % at 50), where the paper's NTM, "
        "trained on lengths up to 20 and far longer, copied length 120 with a few errors. "
        "The stop rule is strict about rare slips: seed 1's first attempt copies the test set "
        "without error from step 2,000, yet stays at 0.125 wrong bits per validation sequence, all "
        "of them in one of the 256 sequences, whose first vector it loses (it writes vectors 2-10 "
        "one step early: 32 bits; the run's slips show it). On 8,192 fresh sequences that checkpoint gets 10 wrong "
        "(0.12 %), so a second attempt runs, and seed 1 takes about twice seed 0's time."
    ),
)


@dataclass(frozen=True)
class Config:
    bits: int = 8
    min_length: int = 1
    max_length: int = 10
    test_length: int = 20  # never seen in training
    longer_lengths: tuple[int, ...] = (15, 30, 40, 50)  # also scored, for the error-by-length plot
    memory_rows: int = 64
    memory_width: int = 20
    controller: int = 100
    lstm_hidden: int = 256
    lstm_layers: int = 2
    batch: int = 32
    steps: int = 3000  # per attempt, the most; an attempt stops once the copy is solved on validation
    attempts: int = 2  # fresh initializations tried, for either model
    solved_bits: float = 0.1  # "solved": at most this many wrong bits per validation sequence
    lr: float = 2e-3
    clip_norm: float = 10.0
    test_size: int = 256
    eval_every: int = 250

    def validate(self) -> None:
        for name in (
            "bits",
            "memory_width",
            "controller",
            "lstm_hidden",
            "lstm_layers",
            "batch",
            "steps",
            "attempts",
            "eval_every",  # validation picks the attempt and stops early: it cannot be off
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError(
                f"need 1 <= min_length <= max_length, got {self.min_length} and {self.max_length}"
            )
        if self.memory_rows < 1:
            raise ValueError(
                f"memory_rows must be >= 1 (a memory of size 0 holds nothing), got {self.memory_rows}"
            )
        longest = max(self.test_length, *self.longer_lengths)
        if self.memory_rows < longest:
            raise ValueError(
                f"memory_rows ({self.memory_rows}) must be >= the longest test length ({longest}): "
                "the copy needs a row per vector"
            )
        if any(n < 1 for n in self.longer_lengths):
            raise ValueError(f"longer_lengths must be >= 1, got {self.longer_lengths}")
        if self.test_length < 1 or self.test_size < 1:
            raise ValueError(
                f"test_length and test_size must be >= 1, got {self.test_length} and {self.test_size}"
            )
        if self.solved_bits < 0:
            raise ValueError(f"solved_bits must be >= 0, got {self.solved_bits}")
        if self.lr <= 0 or self.clip_norm <= 0:
            raise ValueError(f"lr and clip_norm must be > 0, got {self.lr} and {self.clip_norm}")


PRESETS = {
    "default": Config(),
    "quick": Config(
        memory_rows=24,
        longer_lengths=(24,),
        attempts=2,
        memory_width=8,
        controller=32,
        lstm_hidden=32,
        steps=6,
        batch=4,
        test_size=8,
        eval_every=3,
    ),
}


# ---- the copy task (Sec. 4.1) ---------------------------------------------------------------------


def copy_task_batch(generator: torch.Generator, batch: int, length: int, bits: int) -> tuple[Tensor, Tensor]:
    """Inputs (B, 2L + 1, bits + 1) and targets (B, L, bits). Steps 0 … L−1 carry the random
    vectors, step L only the delimiter (the extra channel), steps L+1 … 2L nothing: the machine
    must write the sequence out then."""
    seq = torch.randint(0, 2, (batch, length, bits), generator=generator).float()
    inputs = torch.zeros(batch, 2 * length + 1, bits + 1)
    inputs[:, :length, :bits] = seq
    inputs[:, length, bits] = 1.0
    return inputs, seq


def bit_errors(logits: Tensor, targets: Tensor) -> Tensor:
    """Wrong bits per sequence after thresholding at probability 0.5: (B,)."""
    return ((logits > 0).float() != targets).float().sum((1, 2))


# ---- the machine (Sec. 3) -------------------------------------------------------------------------


class NeuralTuringMachine(nn.Module):
    """An LSTM controller with one read head and one write head on an N × M memory."""

    def __init__(self, inputs: int, outputs: int, rows: int, width: int, controller: int) -> None:
        super().__init__()
        self.rows, self.width = rows, width
        self.controller = nn.LSTMCell(inputs + width, controller)
        # Per head: key (M), strength, gate, 3 shift logits, sharpening; the write head adds
        # erase (M) and add (M).
        self.read_params = nn.Linear(controller, width + 6)
        self.write_params = nn.Linear(controller, 3 * width + 6)
        self.output = nn.Linear(controller + width, outputs)
        self.first_read = nn.Parameter(torch.randn(width) * 0.01)

    @staticmethod
    def _addressing(p: Tensor, width: int) -> tuple[Tensor, ...]:
        """Split a head's parameters and squash each into its range (Sec. 3.3)."""
        key = p[:, :width]
        strength = F.softplus(p[:, width])  # β ≥ 0
        gate = torch.sigmoid(p[:, width + 1])  # g ∈ (0, 1)
        shift = torch.softmax(p[:, width + 2 : width + 5], -1)  # s over −1, 0, +1
        gamma = 1 + F.softplus(p[:, width + 5])  # γ ≥ 1
        return key, strength, gate, shift, gamma

    def forward(self, x: Tensor, record: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """x (B, T, inputs) → logits (B, T, outputs); with ``record``, also the heads'
        weightings (B, T, N)."""
        b, t, _ = x.shape
        memory = x.new_full((b, self.rows, self.width), 1e-6)
        w_read = x.new_zeros(b, 1, self.rows)
        w_read[:, :, 0] = 1.0
        w_write = w_read.clone()
        r = self.first_read.expand(b, self.width)
        h = x.new_zeros(b, self.controller.hidden_size)
        c = torch.zeros_like(h)
        outputs, reads, writes = [], [], []
        for step in range(t):
            h, c = self.controller(torch.cat([x[:, step], r], -1), (h, c))
            # Write first, then read, so a vector can be read back on the step it is written.
            p = self.write_params(h)
            key, strength, gate, shift, gamma = self._addressing(p, self.width)
            w_write = address(
                memory,
                w_write,
                key[:, None],
                strength[:, None],
                gate[:, None],
                shift[:, None],
                gamma[:, None],
            )
            erase = torch.sigmoid(p[:, self.width + 6 : 2 * self.width + 6])
            add = torch.tanh(p[:, 2 * self.width + 6 :])
            memory = erase_and_add(memory, w_write, erase[:, None], add[:, None])
            key, strength, gate, shift, gamma = self._addressing(self.read_params(h), self.width)
            w_read = address(
                memory, w_read, key[:, None], strength[:, None], gate[:, None], shift[:, None], gamma[:, None]
            )
            r = read(memory, w_read)[:, 0]  # (B, M)
            outputs.append(self.output(torch.cat([h, r], -1)))
            if record:
                reads.append(w_read[:, 0])
                writes.append(w_write[:, 0])
        logits = torch.stack(outputs, 1)
        if record:
            return logits, {"read": torch.stack(reads, 1), "write": torch.stack(writes, 1)}
        return logits


class CopyLSTM(nn.Module):
    """The baseline: a stacked LSTM reading the same inputs."""

    def __init__(self, inputs: int, outputs: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(inputs, hidden, layers, batch_first=True)
        self.output = nn.Linear(hidden, outputs)

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.lstm(x)[0])


# ---- the experiment -------------------------------------------------------------------------------


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    lengths = range(cfg.min_length, cfg.max_length + 1)

    def batch_fn(step: int) -> tuple[Tensor, Tensor]:  # the same batches for both models
        g = run.generator("train", step)
        length = int(torch.randint(cfg.min_length, cfg.max_length + 1, (), generator=g))
        x, y = copy_task_batch(g, cfg.batch, length, cfg.bits)
        return x.to(run.device), y.to(run.device)

    def loss_fn(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        logits = model(x)[:, -y.shape[1] :]  # the copy phase
        return F.binary_cross_entropy_with_logits(logits, y)

    tests = {
        n: tuple(
            t.to(run.device) for t in copy_task_batch(run.generator("test", n), cfg.test_size, n, cfg.bits)
        )
        for n in sorted({cfg.max_length, cfg.test_length, *lengths, *cfg.longer_lengths})
    }

    def errors(model: nn.Module, n: int) -> float:
        x, y = tests[n]
        with torch.no_grad():
            return float(bit_errors(model(x)[:, -n:], y).mean())

    # Held-out sequences of the longest training length, apart from the test ones, decide when
    # the copy is solved and training can stop.
    validation = tuple(
        t.to(run.device)
        for t in copy_task_batch(run.generator("validation"), cfg.test_size, cfg.max_length, cfg.bits)
    )

    def slips(model: nn.Module, worst: int = 3) -> dict[str, object]:
        """Which validation sequences the model gets wrong: a mean just above the stop rule can be
        one sequence copied badly or many with a bit or two wrong, and only this tells them apart."""
        x, y = validation
        with torch.no_grad():
            wrong = bit_errors(model(x)[:, -cfg.max_length :], y)
        order = torch.argsort(wrong, descending=True, stable=True)[:worst]
        return {
            "sequences_wrong": int((wrong > 0).sum()),
            "worst": [[int(i), float(wrong[i])] for i in order if wrong[i] > 0],
        }

    def eval_fn(model: nn.Module) -> dict[str, float]:
        x, y = validation
        return {
            "validation_bits": float(bit_errors(model(x)[:, -cfg.max_length :], y).mean()),
            "bits_at_max_length": errors(model, cfg.max_length),
            "bits_at_test_length": errors(model, cfg.test_length),
        }

    builders = {
        "NTM": lambda: NeuralTuringMachine(
            cfg.bits + 1, cfg.bits, cfg.memory_rows, cfg.memory_width, cfg.controller
        ),
        "LSTM": lambda: CopyLSTM(cfg.bits + 1, cfg.bits, cfg.lstm_hidden, cfg.lstm_layers),
    }
    models: dict[str, nn.Module] = {}
    histories, by_length, attempts_used = {}, {}, {}
    for name, build in builders.items():
        # NTM training can sit on a plateau for thousands of steps before the heads find the
        # sweep, at a step that depends on the initialization. Both models get the same deal:
        # up to ``attempts`` fresh initializations of ``steps`` steps each, the same batches,
        # stopping at the first solved one; the attempt with the lowest validation error is kept.
        best, scores, slipped = None, [], []
        for attempt in range(cfg.attempts):
            torch.manual_seed(derive_seed(run.seed, run.paper, name, "init", attempt))
            model = build().to(run.device)
            optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
            history = fit(
                run,
                f"{name.lower()}-{attempt + 1}",
                model,
                optimizer,
                steps=cfg.steps,
                batch_fn=batch_fn,
                loss_fn=loss_fn,
                clip_norm=cfg.clip_norm,
                eval_fn=eval_fn,
                eval_every=cfg.eval_every,
                stop_when=lambda e: e["validation_bits"] <= cfg.solved_bits,
            )
            score = history.evals[-1]["validation_bits"] if history.evals else float("inf")
            scores.append(score)
            slipped.append(slips(model))
            run.log(
                f"{name}, attempt {attempt + 1}: {history.step[-1]} steps, validation {score:.2f} wrong bits"
            )
            if best is None or score < best[0]:
                best = (score, model, history, attempt + 1)
            if score <= cfg.solved_bits:
                break
        assert best is not None
        _, models[name], histories[name], kept = best
        attempts_used[name] = {"ran": attempt + 1, "kept": kept, "validation_bits": scores, "slips": slipped}
        model = models[name].eval()
        by_length[name] = {n: errors(model, n) for n in tests}
        run.log(
            f"{name}: wrong bits per sequence, length {cfg.max_length}: {by_length[name][cfg.max_length]:.2f}, "
            f"length {cfg.test_length}: {by_length[name][cfg.test_length]:.2f}"
        )

    run.metric("attempts", attempts_used)
    for name, h in histories.items():
        run.metric(f"{name.lower()}_train_seconds", round(h.seconds, 2))
        run.metric(f"{name.lower()}_steps", h.step[-1] if h.step else 0)
        run.metric(f"{name.lower()}_parameters", sum(p.numel() for p in models[name].parameters()))
        run.metric(f"{name.lower()}_bits_by_length", {str(n): v for n, v in by_length[name].items()})
        run.metric(
            f"{name.lower()}_curve",
            {
                "step": [e["step"] for e in h.evals],
                "validation_bits": [e["validation_bits"] for e in h.evals],
                "bits_at_max_length": [e["bits_at_max_length"] for e in h.evals],
                "bits_at_test_length": [e["bits_at_test_length"] for e in h.evals],
            },
        )
    copies = run.check(CARD.claims[0], by_length["NTM"][cfg.max_length]).verdict == REPRODUCED
    # generalizing a copy it has not learned says nothing: an NTM at 40 % wrong bits beat an LSTM
    # at chance by that much on seed 2 (claim 1 failed there) and would have "passed"
    gap = by_length["NTM"][cfg.test_length] - by_length["LSTM"][cfg.test_length]
    run.metric("bits_at_test_length_ntm_minus_lstm", gap)  # reported whatever claim 1 finds
    run.check(CARD.claims[1], gap if copies else float("nan"))

    _plot(run, cfg, models["NTM"], histories, by_length, tests)


def _plot(
    run: Run,
    cfg: Config,
    ntm: NeuralTuringMachine,
    histories: dict,
    by_length: dict[str, dict[int, float]],
    tests: dict[int, tuple[Tensor, Tensor]],
) -> None:
    from landmarks.plots import plt

    x, y = tests[cfg.test_length]
    with torch.no_grad():
        logits, weightings = ntm(x[:1], record=True)
    n = cfg.test_length
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), gridspec_kw={"height_ratios": [1, 1.6]})
    axes[0, 0].imshow(y[0].T.cpu().numpy(), cmap="gray_r", aspect="auto", interpolation="nearest")
    axes[0, 0].set_title(f"target: a sequence of length {n} (never seen in training)")
    axes[0, 1].imshow(
        torch.sigmoid(logits[0, -n:]).T.cpu().numpy(), cmap="gray_r", aspect="auto", interpolation="nearest"
    )
    axes[0, 1].set_title("NTM output")
    for ax, name in zip(axes[1], ("write", "read"), strict=True):
        ax.imshow(
            weightings[name][0].T.cpu().numpy(),
            cmap="magma",
            aspect="auto",
            interpolation="nearest",
            origin="lower",
        )
        ax.axvline(n - 0.5, color="w", lw=0.8, ls="--")
        ax.set_xlabel("time step (input, delimiter, copy)")
        ax.set_ylabel("memory row")
        ax.set_title(f"{name} weighting")
    run.save_figure(fig, "heads", "Copying a sequence twice the training length: output and head weightings")

    fig, (curve_ax, length_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for name, h in histories.items():
        steps = [e["step"] for e in h.evals]
        curve_ax.plot(
            steps, [e["bits_at_max_length"] for e in h.evals], label=f"{name}, length {cfg.max_length}"
        )
        curve_ax.plot(
            steps,
            [e["bits_at_test_length"] for e in h.evals],
            "--",
            label=f"{name}, length {cfg.test_length}",
        )
    curve_ax.set_yscale("symlog", linthresh=1)
    curve_ax.set_xlabel("training step")
    curve_ax.set_ylabel("wrong bits per sequence")
    curve_ax.legend(fontsize=8)
    for name, errs in by_length.items():
        ns = sorted(errs)
        length_ax.plot(ns, [errs[k] / (k * cfg.bits) for k in ns], "o-", ms=3, label=name)
    length_ax.axvspan(cfg.min_length, cfg.max_length, color="0.9", label="training lengths")
    length_ax.set_xlabel("sequence length")
    length_ax.set_ylabel("share of bits wrong")
    length_ax.legend(fontsize=8)
    run.save_figure(fig, "copy_error", "Copy error while training, and by length after training")
