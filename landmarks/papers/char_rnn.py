"""The Unreasonable Effectiveness of Recurrent Neural Networks (Karpathy, 2015).

A character-level language model: an LSTM reads text one character at a time and predicts the
next one. Trained on Shakespeare, with nothing told to it about words, lines or plays, it learns
to spell, to break lines, and to write in the play format: a speaker's name on a line of its
own, then the speech. And some of its cells turn out to track simple properties of the text on
their own (the position in the line, being inside brackets or quotes).

This module, in the order of the blog post:

1. The model (``CharRNN``): characters → an embedding (the same as a one-hot input times the
   LSTM's input weights) → the LSTM stack of ``landmarks.nn.recurrent`` → a softmax over the
   next character.
2. Training by truncated backpropagation through time (``landmarks.nn.recurrent.TruncatedBPTT``):
   the text is cut into ``batch`` long rows and read in windows of ``seq_len`` characters; the
   LSTM state is carried from one window to the next (the model sees the text as a continuous
   stream) but the gradient stops at the window's edge.
3. Sampling (``sample``): feed the model its own output, with a temperature and top-k.
4. ``reproduce``: train, measure validation loss in nats and bits per character, sample, count
   speaker lines in the sample against the corpus, and search the cells for an interpretable one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.data.shakespeare import SPEAKER_LINE, CharVocab
from landmarks.data.text import batchify, encode_chars, text_split
from landmarks.engine import History, Run, distributed, fit, warmup_cosine
from landmarks.nn.decoding import sample_next
from landmarks.nn.recurrent import LSTM, TruncatedBPTT, lstm_step, stream_cross_entropy
from landmarks.registry import Card, ClaimSpec

USES_DATA_DIR = True  # --data-dir: a folder with input.txt (or one .txt file), char-rnn's convention

CARD = Card(
    citation=(
        'Andrej Karpathy, "The Unreasonable Effectiveness of Recurrent Neural Networks", blog post, '
        "21 May 2015, https://karpathy.github.io/2015/05/21/rnn-effectiveness/. Code: "
        'https://github.com/karpathy/char-rnn. Karpathy, Johnson and Fei-Fei, "Visualizing and '
        'Understanding Recurrent Networks", arXiv:1506.02078, 2015 (the interpretable cells).'
    ),
    takeaways=[
        "A character-level LSTM trained only to predict the next character learns spelling, "
        "punctuation and the layout of a play: it writes speaker names on lines of their own.",
        "Truncated backpropagation through time: the state flows across the whole text, the "
        "gradient only within a window, so training is cheap but memory is long.",
        "Temperature trades diversity for confidence when sampling; top-k cuts off the unlikely tail.",
        "Some single cells are interpretable: they count the position in the line, or switch on "
        "inside quotes or brackets, though nobody told the network those things exist.",
    ],
    claims=[
        ClaimSpec(
            "validation loss on held-out plays, nats per character",
            "<= 2.0",
            "the blog's Shakespeare model (3-layer LSTM, 512 units) writes fluent play text and "
            "gives no loss; for scale, nanoGPT's README: a 6-layer character transformer reaches "
            "1.47 nats on tiny-shakespeare, its 4-layer CPU setting about 1.88",
        ),
        ClaimSpec(
            "samples keep the play format: share of sampled lines that are a speaker's name, "
            "divided by the same share in held-out text",
            "in [0.5, 2.0]",
            "blog: samples such as 'PANDARUS:' / 'Alas, I think he shall be come approached and "
            "the day ...' (speaker names on their own lines)",
        ),
        ClaimSpec(
            "an interpretable cell exists: largest |Pearson r| between one cell's tanh(c_t) and a "
            "simple text property (position in line, inside [brackets], in a speaker-name line)",
            ">= 0.5",
            "blog: cells that track position in the line, and quotes; Karpathy et al. 2015 Fig. 2",
        ),
    ],
    keeps=[
        "a character-level LSTM language model with a softmax over the next character",
        "truncated BPTT with the state carried across windows (char-rnn's seq_length), gradient "
        "clipping at 5 (of the norm here; char-rnn clamps each gradient element)",
        "sampling with a temperature (1.0: the model's own distribution) and optional top-k",
        "Shakespeare as the corpus; held-out text the model never trained on",
    ],
    shrinks=[
        "one LSTM layer of 256 units (the blog: 3 layers of 512), about 0.57 M parameters with its embedding and output layer",
        "450 Adam steps of 64 × 100 characters: 2.9 M characters, under two thirds of one pass "
        "over the 4.5 M characters of training text (the blog trains for hours on a GPU)",
        "held out by play (As You Like It and Richard II for validation, Macbeth and The "
        "Winter's Tale for test), not char-rnn's last 5 % of the 1 MB tiny-shakespeare file",
    ],
    figures={
        "blog's Shakespeare model": "3-layer LSTM, 512 hidden units per layer, 4.4 MB of text",
        "char-rnn defaults": "seq_length 50, batch 50, RMSprop lr 2e-3, grad_clip 5",
    },
    notes=(
        "Claim 2 counts a line as a speaker's name when it looks like one and follows a blank "
        "line (``speaker_lines``). Until 2026-11-29 the pattern alone counted, and nearly a third "
        "of what it matched in the held-out plays were short lines of speech. "
        "Loss is cross-entropy in nats per character; bits per character are nats / ln 2. "
        "The interpretable-cell search looks at every cell of the trained model over held-out "
        "text and reports the best (cell, property) pair: with a few hundred cells and three "
        "properties, a chance correlation is small (|r| of order 0.03 over the thousands of "
        "characters traced), so |r| ≥ 0.5 means a cell that really tracks the property. "
        "The carried state of truncated BPTT is part of the checkpoint, so a resumed run continues "
        "the same stream (under torchrun, every process resumes rank 0's state)."
    ),
)


# ---- 1. the model -----------------------------------------------------------------------------


class CharRNN(nn.Module):
    """p(x_{t+1} | x_≤t) = softmax(W_hy h_t + b_y), h_t from an LSTM stack over the characters."""

    def __init__(self, vocab_size: int, hidden: int, layers: int = 1) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, hidden)  # = one-hot(x_t) · W_xh, without the one-hot
        self.lstm = LSTM(hidden, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)  # W_hy, b_y

    @property
    def num_layers(self) -> int:
        return self.lstm.num_layers

    @property
    def hidden_size(self) -> int:
        return self.lstm.hidden_size

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Logits (B, T, V) for characters x (B, T), and the LSTM state after the last one."""
        h, state = self.lstm(self.embed(x), state)  # (B, T, H)
        return self.head(h), state

    @torch.no_grad()
    def cell_trace(self, x: Tensor) -> Tensor:
        """tanh(c_t) of every cell for one sequence x (T,), by the explicit equations: (T, layers·H).

        The fused kernel returns only the last c, so this walks the gate equations one step at a
        time (``lstm_step``), which is what the blog's visualizations plot.
        """
        lstm = self.lstm
        inputs = self.embed(x[None])  # (1, T, H)
        traces = []
        for k in range(lstm.num_layers):
            w_ih, w_hh, b_ih, b_hh = lstm.layer_weights(k)
            x_proj = F.linear(inputs[0], w_ih, b_ih)  # (T, 4H)
            h = c = x_proj.new_zeros(1, lstm.hidden_size)
            hs, cs = [], []
            for t in range(x_proj.shape[0]):
                h, c = lstm_step(x_proj[t : t + 1], h, c, w_hh, b_hh)
                hs.append(h[0])
                cs.append(c[0])
            inputs = torch.stack(hs)[None]  # layer k's h_t feed layer k+1
            traces.append(torch.tanh(torch.stack(cs)))  # (T, H)
        return torch.cat(traces, dim=1)


# ---- 2. truncated backpropagation through time -------------------------------------------------


@torch.no_grad()
def evaluate(model: CharRNN, ids: Tensor, rows: int = 128, window: int = 500) -> float:
    """Mean cross-entropy (nats/char) over a whole id stream, read as ``rows`` rows with the state
    carried across windows (every character but the first of each row is scored)."""
    return stream_cross_entropy(model, batchify(ids, rows), window)


# ---- 3. sampling -------------------------------------------------------------------------------


@torch.no_grad()
def sample(
    model: CharRNN,
    vocab: CharVocab,
    prime: str,
    length: int,
    generator: torch.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> str:
    """``length`` characters after ``prime``, each drawn from the model given all before it."""
    device = next(model.parameters()).device
    x = vocab.encode(prime).to(device)[None]  # (1, P)
    logits, state = model(x)
    out = []
    for _ in range(length):
        nxt = sample_next(logits[:, -1], temperature=temperature, top_k=top_k, generator=generator)  # (1,)
        out.append(nxt)
        logits, state = model(nxt[:, None], state)
    return vocab.decode(torch.cat(out))


# ---- 4. interpretable cells ----------------------------------------------------------------------


def speaker_lines(lines: list[str]) -> list[bool]:
    """Which lines name a speaker: a name-like line (``SPEAKER_LINE``: "HERMIA.", "Ham.",
    "First Citizen:") that opens a block, after a blank line or at the start. The pattern alone
    also takes short lines of speech ("Amen.", "From Troy."): in the validation plays 582 of its
    1,949 matches are lines inside a speech; of the 1,367 that follow a blank line, 3 are speech
    and 5 act headings ("ACT II.")."""
    return [
        bool(SPEAKER_LINE.match(line)) and (i == 0 or not lines[i - 1].strip())
        for i, line in enumerate(lines)
    ]


def speaker_line_share(text: str) -> float:
    """Share of the non-blank lines of ``text`` that name a speaker (``speaker_lines``)."""
    lines = text.split("\n")
    named = speaker_lines(lines)
    filled = sum(1 for line in lines if line.strip())
    return sum(named) / filled if filled else 0.0


def text_properties(text: str) -> dict[str, Tensor]:
    """Simple properties of each character of ``text`` that a cell might track, as (T,) floats."""
    position, inside, speaker = [], [], []
    col, depth = 0, 0
    lines = text.split("\n")
    speaker_line = speaker_lines(lines)
    for i, line in enumerate(lines):
        for ch in [*line, "\n"] if i < len(lines) - 1 else line:
            position.append(col)
            if ch == "[":
                depth += 1
            inside.append(float(depth > 0))
            if ch == "]":
                depth = max(0, depth - 1)
            speaker.append(float(speaker_line[i]))
            col = 0 if ch == "\n" else col + 1
    return {
        "position in line": torch.tensor(position, dtype=torch.float64),
        "inside [brackets]": torch.tensor(inside, dtype=torch.float64),
        "in a speaker-name line": torch.tensor(speaker, dtype=torch.float64),
    }


def correlations(trace: Tensor, prop: Tensor) -> Tensor:
    """Pearson r between each column of ``trace`` (T, N) and ``prop`` (T,): (N,), 0 for a constant."""
    a = trace.double() - trace.double().mean(0)
    b = prop - prop.mean()
    denom = a.norm(dim=0) * b.norm()
    return torch.where(denom > 0, (a * b[:, None]).sum(0) / denom.clamp_min(1e-300), torch.zeros_like(denom))


# ---- the experiment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    hidden: int = 256
    layers: int = 1
    seq_len: int = 100  # truncated BPTT window (char-rnn's seq_length)
    batch: int = 64  # rows of the training text read in parallel
    steps: int = 450
    lr: float = 3e-3
    warmup: int = 30
    clip_norm: float = 5.0
    eval_every: int = 75
    eval_chars: int = 100_000  # validation characters scored during training
    final_eval_chars: int = 0  # held-out characters scored at the end; 0: all of them
    sample_chars: int = 5000
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k filter
    trace_chars: int = 5000  # held-out characters the cell search reads

    def validate(self) -> None:
        for name in ("hidden", "layers", "seq_len", "batch", "steps", "eval_every", "eval_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.final_eval_chars < 0:
            raise ValueError(
                f"final_eval_chars must be >= 0 (0: all held-out text), got {self.final_eval_chars}"
            )
        if self.sample_chars < 100 or self.trace_chars < 100:
            raise ValueError("sample_chars and trace_chars must be >= 100 (a few lines at least)")
        if not self.temperature > 0:
            raise ValueError(
                f"temperature must be > 0 (1.0 samples the model's own distribution), got {self.temperature}"
            )
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 turns it off), got {self.top_k}")
        if not self.lr > 0 or not self.clip_norm > 0:
            raise ValueError(f"lr and clip_norm must be > 0, got {self.lr} and {self.clip_norm}")
        if not 0 <= self.warmup < self.steps:
            raise ValueError(f"warmup must be in [0, steps), got {self.warmup}")


PRESETS = {
    "default": Config(),
    "quick": Config(
        hidden=32,
        seq_len=32,
        batch=8,
        steps=20,
        warmup=2,
        eval_every=10,
        eval_chars=5000,
        sample_chars=300,
        trace_chars=300,
    ),
}


def train_char_lstm(
    run: Run, train: Tensor, vocab_size: int, cfg: Config, val_probe: Tensor | None = None
) -> tuple[CharRNN, History]:
    """char-rnn's recipe: ``cfg.batch`` contiguous rows of the training ids read in windows of
    ``cfg.seq_len`` with the state carried across windows (truncated BPTT), Adam with warm-up
    and cosine decay, gradient clipping. Returns the model in eval mode and its history."""
    world = distributed.world_size()
    if cfg.batch % world:
        raise ValueError(f"batch {cfg.batch} must divide by the {world} processes")
    rows = batchify(train, cfg.batch)  # (batch, n): contiguous rows of the training text
    windows = (rows.shape[1] - 1) // cfg.seq_len
    if windows < 1:
        raise ValueError(f"the training text is too short for {cfg.batch} rows of {cfg.seq_len} characters")

    torch.manual_seed(run.seed)
    model = CharRNN(vocab_size, cfg.hidden, cfg.layers).to(run.device)
    trainer = TruncatedBPTT(model, cfg.batch // world).to(run.device)

    def batch_fn(step: int) -> tuple[Tensor, Tensor, bool]:
        w = step % windows  # after the last window, start the rows again with a fresh state
        x = rows[:, w * cfg.seq_len : (w + 1) * cfg.seq_len]
        y = rows[:, w * cfg.seq_len + 1 : (w + 1) * cfg.seq_len + 1]
        return x.to(run.device), y.to(run.device), w == 0  # the flag: start from a zero state

    def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor, bool]) -> Tensor:
        x, y, reset = batch
        return F.cross_entropy(net(x, reset).flatten(0, 1), y.flatten())

    def eval_fn(_: nn.Module) -> dict[str, float]:
        return {"val_loss": evaluate(model, val_probe)}

    optimizer = torch.optim.Adam(trainer.parameters(), lr=cfg.lr)
    history = fit(
        run,
        "char_lstm",
        trainer,
        optimizer,
        steps=cfg.steps,
        batch_fn=batch_fn,
        loss_fn=loss_fn,
        scheduler=warmup_cosine(optimizer, cfg.warmup, cfg.steps, floor=0.1),
        clip_norm=cfg.clip_norm,
        eval_fn=eval_fn if val_probe is not None else None,
        eval_every=cfg.eval_every if val_probe is not None else 0,
    )
    model.eval()
    return model, history


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    split = text_split(run.data_dir)
    data = encode_chars(split)
    vocab = data.vocab
    val = data.val.to(run.device)
    val_probe = val[: cfg.eval_chars + 1]
    run.log(
        f"{split.source}: {len(data.train):,} training characters, {len(val):,} held out; "
        f"{len(vocab)} distinct characters"
    )
    model, history = train_char_lstm(run, data.train, len(vocab), cfg, val_probe)
    model.eval()
    final = cfg.final_eval_chars or None
    val_loss = evaluate(model, val[:final])
    test_loss = evaluate(model, data.test[:final].to(run.device))
    run.log(f"validation {val_loss:.3f} nats/char ({val_loss / math.log(2):.3f} bits), test {test_loss:.3f}")

    # Samples: the model's own distribution, primed with a line break.
    text = sample(
        model, vocab, "\n", cfg.sample_chars, run.generator("sample"), cfg.temperature, cfg.top_k or None
    )
    if distributed.is_main():
        (run.out / "samples.txt").write_text(text)
    held_out_share = speaker_line_share(split.val)
    sample_share = speaker_line_share(text)
    format_ratio = sample_share / held_out_share if held_out_share > 0 else float("nan")

    # The interpretable-cell search, on held-out text.
    trace_text = _start_at_line(split.val, cfg.trace_chars)
    trace = model.cell_trace(vocab.encode(trace_text).to(run.device)).cpu()  # (T, layers·H)
    props = text_properties(trace_text)
    best = {name: correlations(trace, p).abs().nan_to_num(0.0) for name, p in props.items()}
    best_prop = max(best, key=lambda k: float(best[k].max()))
    best_cell = int(best[best_prop].argmax())
    best_r = float(correlations(trace, props[best_prop])[best_cell])

    run.metric("val_loss_nats", val_loss)
    run.metric("val_bits_per_char", val_loss / math.log(2))
    run.metric("test_loss_nats", test_loss)
    run.metric("test_bits_per_char", test_loss / math.log(2))
    run.metric("train_characters_seen", cfg.steps * cfg.batch * cfg.seq_len)
    run.metric("parameters", sum(p.numel() for p in model.parameters()))
    run.metric("train_seconds", round(history.seconds, 2))
    run.metric("speaker_line_share_sample", sample_share)
    run.metric("speaker_line_share_held_out", held_out_share)
    run.metric("best_cell", {"cell": best_cell, "property": best_prop, "r": best_r})
    run.metric("max_abs_r_by_property", {k: float(v.max()) for k, v in best.items()})
    run.metric(
        "val_curve",
        {"step": [e["step"] for e in history.evals], "loss": [e["val_loss"] for e in history.evals]},
    )

    run.check(CARD.claims[0], val_loss)
    run.check(CARD.claims[1], format_ratio)
    run.check(CARD.claims[2], abs(best_r))

    _plot_loss(run, history, val_loss)
    _plot_samples(run, text, split.val)
    _plot_cell(run, trace_text, trace[:, best_cell], best_prop, best_r, best_cell)


def _start_at_line(text: str, n: int) -> str:
    """About ``n`` characters of dialogue: from the first upper-case speaker line after the
    first fifth of ``text`` (past title pages and cast lists), or from the start if none."""
    lines = text.split("\n")
    begin = len(text[: len(text) // 5].split("\n"))
    start = next((i for i in range(begin, len(lines)) if _NAME_LINE.match(lines[i])), 0)
    return "\n".join(lines[start:])[:n]


_NAME_LINE = re.compile(r"^[A-Z][A-Z ]+\.$")  # a speaker line as the corpus writes it: "FIRST SOLDIER."


# ---- figures ------------------------------------------------------------------------------------


def _plot_loss(run: Run, history, val_loss: float) -> None:  # type: ignore[no-untyped-def]
    from landmarks.plots import plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(history.step, history.loss, lw=0.7, alpha=0.7, label="training windows")
    steps = [e["step"] for e in history.evals]
    ax.plot(steps, [e["val_loss"] for e in history.evals], "o-", ms=3, label="held-out plays")
    ax.axhline(2.0, color="black", ls="--", lw=0.8, label="claim: 2.0 nats/char")
    ax.set(xlabel="training step", ylabel="cross-entropy (nats / character)", title="char-rnn on Shakespeare")
    right = ax.secondary_yaxis("right", functions=(lambda n: n / math.log(2), lambda b: b * math.log(2)))
    right.set_ylabel("bits / character")
    ax.legend(fontsize=8)
    run.save_figure(
        fig,
        "loss",
        f"Training and held-out loss; final held-out loss {val_loss:.3f} nats = "
        f"{val_loss / math.log(2):.3f} bits per character.",
    )


def _plot_samples(run: Run, sample_text: str, corpus: str) -> None:
    from landmarks.plots import plt

    def excerpt(text: str, lines: int = 24) -> str:
        return "\n".join(line[:60] for line in text.strip("\n").split("\n")[:lines])

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, (title, text) in zip(
        axes, [("sampled by the model (τ = 1)", sample_text), ("held-out play", _start_at_line(corpus, 3000))]
    ):
        ax.axis("off")
        ax.set_title(title, fontsize=10, loc="left")
        ax.text(0, 1, excerpt(text), family="monospace", fontsize=7.5, va="top", transform=ax.transAxes)
    run.save_figure(
        fig,
        "samples",
        "A sample beside the corpus's own lines: speaker names on their own lines, then speech.",
    )


def _plot_cell(run: Run, text: str, activation: Tensor, prop: str, r: float, cell: int) -> None:
    from landmarks.plots import plt

    lines = text.split("\n")[:14]
    width = min(70, max(len(line) for line in lines) + 1)
    grid = torch.full((len(lines), width), float("nan"))
    pos = 0
    for i, line in enumerate(lines):
        n = max(0, min(len(line) + 1, width, len(activation) - pos))
        grid[i, :n] = activation[pos : pos + n]
        pos += len(line) + 1
    fig, ax = plt.subplots(figsize=(11, 0.32 * len(lines) + 0.8))
    ax.imshow(grid.numpy(), cmap="coolwarm", vmin=-1, vmax=1, aspect="auto")
    for i, line in enumerate(lines):
        for j, ch in enumerate(line[: width - 1]):
            ax.text(j, i, ch, ha="center", va="center", family="monospace", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.set_title(
        f"cell {cell}: tanh(c) over held-out text (blue −1, red +1); r = {r:+.2f} with {prop}", fontsize=9
    )
    run.save_figure(
        fig,
        "interpretable_cell",
        f"The cell whose activation best tracks a text property ({prop}, r = {r:+.2f}), as in the blog's visualizations.",
    )
