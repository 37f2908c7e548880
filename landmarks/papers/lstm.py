"""Understanding LSTM Networks (Olah, 2015), with the paper behind it: Long Short-Term Memory
(Hochreiter & Schmidhuber, 1997).

The story in four parts, in the order the blog tells it:

1. Recurrent networks carry a hidden state h_t from step to step. The cells are written out
   gate by gate in ``landmarks.nn.recurrent`` and re-exported here: the vanilla (tanh) RNN,
   the LSTM (input, forget and output gates around an additively updated cell state C_t) and
   the GRU. Their weights load from ``torch.nn.RNN/LSTM/GRU`` unchanged.
2. The problem of long-term dependencies: to learn that the answer at step T depends on the
   input at step 0, the error has to travel back T steps. Through a vanilla RNN it is
   multiplied by the same Jacobian at every step and shrinks exponentially with the lag.
3. The task that shows it (``first_symbol_batch``): a symbol at t=0, then T distractors from a
   separate set of symbols, and the network must name the first symbol at the last step.
   Nothing in between helps.
4. ``reproduce``: an LSTM and a vanilla RNN, trained with the same data, steps, batch,
   optimizer and hidden size. The LSTM recalls the symbol; the RNN stays at chance; and the
   gradient reaching t=0 shows why.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.engine import Run, fit
from landmarks.nn.recurrent import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNCell,
    gru_step,
    lstm_step,
    rnn_step,
)
from landmarks.registry import Card, ClaimSpec

__all__ = [
    "CARD",
    "GRU",
    "LSTM",
    "PRESETS",
    "RNN",
    "Config",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "SymbolRecall",
    "first_symbol_batch",
    "gradient_by_lag",
    "gru_step",
    "lstm_step",
    "open_forget_gate",
    "reproduce",
    "rnn_step",
]

CARD = Card(
    citation=(
        'Christopher Olah, "Understanding LSTM Networks", blog post, August 2015, '
        "https://colah.github.io/posts/2015-08-Understanding-LSTMs/. "
        'Sepp Hochreiter and Jürgen Schmidhuber, "Long Short-Term Memory", Neural Computation '
        "9(8):1735–1780, 1997. Forget gate: Gers, Schmidhuber and Cummins, "
        '"Learning to Forget: Continual Prediction with LSTM", Neural Computation 12(10), 2000.'
    ),
    takeaways=[
        "Backpropagated through a vanilla RNN, the error is multiplied by the same Jacobian at "
        "every step back in time, so it vanishes (or explodes) exponentially with the time lag: "
        "a dependency 100 steps back gets no usable learning signal.",
        "The LSTM's cell state is updated additively, C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t; with the "
        "forget gate open the error flows back almost unchanged (the 1997 paper's constant error "
        "carousel), so a long lag is learnable.",
        "Gates are sigmoids in (0, 1) that decide what to write (i), keep (f) and show (o); the "
        "GRU merges cell and hidden state and uses two gates (reset, update).",
    ],
    claims=[
        ClaimSpec(
            "LSTM names the symbol shown before the distractors (test accuracy; 100 distractor "
            "steps in the default run)",
            ">= 0.95",
            "H&S 1997: LSTM bridges minimal time lags in excess of 1000 steps",
        ),
        ClaimSpec(
            "a vanilla RNN with the same budget stays within 10 points of chance (test accuracy)",
            "<= 0.225",  # chance (1/8) + 0.10 for the default 8 symbols; reproduce uses 1/K + 0.10
            "Olah 2015: 'in practice, RNNs don't seem to be able to learn them' (long-term "
            "dependencies; Hochreiter 1991, Bengio et al. 1994)",
        ),
        ClaimSpec(
            "after training, the gradient reaching the symbol (lag T, relative to lag 0) is at "
            "least 10× larger through the LSTM than through the RNN",
            ">= 10",
            "H&S 1997 §3: conventional backpropagated error decays exponentially with the lag; "
            "the constant error carousel keeps it constant",
        ),
    ],
    keeps=[
        "the exact gate equations of the LSTM (with forget gate), GRU and tanh RNN in torch's "
        "weight layout, tested against torch.nn for outputs, states and gradients",
        "a minimal-time-lag task in the spirit of H&S 1997 Experiment 2: the symbol to remember "
        "comes first, distractors come from a separate set of symbols, the answer is asked for "
        "at the last step",
        "the same budget for both networks: data, steps, batch, optimizer, learning rate, "
        "gradient clipping and hidden size",
    ],
    shrinks=[
        "lag: 100 distractor steps, near the short end of the paper's 50 to 1000 (Task 2c, Table 3)",
        "8 symbols to remember, 8 distractor symbols, one layer of 64 hidden units, 800 Adam "
        "steps of 128 sequences (1997: online gradient descent over many thousands of sequences)",
        "full backpropagation through time with Adam and clipping, not the 1997 truncated RTRL/BPTT hybrid",
    ],
    figures={
        "LSTM minimal time lag bridged (H&S 1997)": "> 1000 steps",
        "error flow through a conventional RNN (H&S 1997 §3)": "exponential decay with the lag",
    },
    notes=(
        "The forget gate starts open (bias 5, so σ(5)^100 ≈ 0.5 of the cell survives 100 steps). "
        "The 1997 LSTM had no forget gate at all (f ≡ 1); Gers et al. 2000 added it and start "
        "it open. With the common bias of 1, σ(1)^100 ≈ 2e-14 is as vanishing as the RNN, and in "
        "our trials the LSTM then stayed at chance too. The vanishing gradient makes the RNN "
        "slow rather than strictly unable: at a 3× larger learning rate (3e-3), some RNN runs "
        "learned lags of 60 to 120 after 900 to 1600 steps (in this task and in a variant with "
        "distractors from the same symbols); at 1e-3 and lag 100, one of four began to at about "
        "step 2000. The default budget (800 steps) is twice the most the LSTM needed to pass "
        "95 % in 13 development seeds (400); seeds 0-2 passed it by step 100 to 250."
    ),
)


# ---- 3. the task ---------------------------------------------------------------------------


def first_symbol_batch(
    generator: torch.Generator, n: int, distractors: int, symbols: int, distractor_symbols: int
) -> tuple[Tensor, Tensor]:
    """n sequences: one of ``symbols`` (ids 0..K-1) at t=0, then ``distractors`` symbols drawn
    from a separate set (ids K..K+D-1). The label is the first symbol."""
    first = torch.randint(0, symbols, (n, 1), generator=generator)  # (n, 1)
    rest = torch.randint(symbols, symbols + distractor_symbols, (n, distractors), generator=generator)
    return torch.cat([first, rest], dim=1), first[:, 0]  # (n, T+1), (n,)


class SymbolRecall(nn.Module):
    """One-hot symbols → a recurrent stack → a linear read-out of h at the final step."""

    def __init__(self, cell: str, symbols: int, distractor_symbols: int, hidden: int) -> None:
        super().__init__()
        stacks = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
        if cell not in stacks:
            raise ValueError(f"cell must be one of {', '.join(stacks)}, got {cell!r}")
        self.vocabulary = symbols + distractor_symbols
        self.recurrent = stacks[cell](self.vocabulary, hidden, batch_first=True)
        self.readout = nn.Linear(hidden, symbols)  # only the symbols to remember are answers

    def forward(self, tokens: Tensor) -> Tensor:
        return self.read(F.one_hot(tokens, self.vocabulary).float())  # (B, T+1, K+D) inputs

    def read(self, x: Tensor) -> Tensor:
        """Logits (B, K) from one-hot inputs x (B, T+1, K+D); the answer is asked at the last step."""
        output, _ = self.recurrent(x)  # (B, T+1, H): h_t for every t
        return self.readout(output[:, -1])


def open_forget_gate(lstm: LSTM, bias: float) -> None:
    """Set the forget gate's total bias b_if + b_hf to ``bias`` in every layer (gate block 1 of
    i, f, g, o), so training starts near the 1997 constant error carousel (f ≈ 1)."""
    h = lstm.hidden_size
    with torch.no_grad():
        for k in range(lstm.num_layers):
            _, _, b_ih, b_hh = lstm.layer_weights(k)
            b_ih[h : 2 * h].fill_(bias)
            b_hh[h : 2 * h].zero_()


# ---- 2. the vanishing gradient, measured -------------------------------------------------------


def gradient_by_lag(model: SymbolRecall, tokens: Tensor, labels: Tensor) -> Tensor:
    """Mean over sequences of ‖∂L/∂x_t‖, indexed by the lag T − t (index 0: the last input).

    Computed in float64 on a copy, so an RNN's gradient that has shrunk by 1e-40 is still a
    number rather than an underflow to zero.
    """
    probe = copy.deepcopy(model).double().train()  # cuDNN backpropagates only in training mode
    x = F.one_hot(tokens, model.vocabulary).double().requires_grad_()  # (B, T+1, K+D)
    loss = F.cross_entropy(probe.read(x), labels, reduction="sum")  # sum: each sequence's own L
    (grad,) = torch.autograd.grad(loss, x)  # (B, T+1, K+D)
    return grad.norm(dim=-1).mean(0).flip(0).float().cpu()  # (T+1,), lag 0 first


# ---- 4. the experiment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    distractors: int = 100  # T: steps between the symbol and the question
    symbols: int = 8  # K: the symbols to remember; chance is 1/K
    distractor_symbols: int = 8  # D: a separate set the distractors are drawn from
    hidden: int = 64
    batch: int = 128
    steps: int = 800
    lr: float = 1e-3
    clip_norm: float = 1.0
    forget_bias: float = 5.0  # LSTM only: the forget gate starts open
    test_size: int = 2000
    eval_every: int = 50
    probe_size: int = 256  # test sequences used to measure the gradient against the lag

    def validate(self) -> None:
        positive = (
            "distractors",
            "distractor_symbols",
            "hidden",
            "batch",
            "steps",
            "test_size",
            "eval_every",
            "probe_size",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.symbols < 2:
            raise ValueError(f"symbols must be >= 2 (chance is 1/symbols), got {self.symbols}")
        if not self.lr > 0 or not self.clip_norm > 0:
            raise ValueError(f"lr and clip_norm must be > 0, got {self.lr} and {self.clip_norm}")
        if self.probe_size > self.test_size:
            raise ValueError(f"probe_size ({self.probe_size}) must be <= test_size ({self.test_size})")


PRESETS = {
    "default": Config(),
    "quick": Config(
        distractors=20, hidden=32, batch=64, steps=60, test_size=256, eval_every=20, probe_size=64
    ),
}


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    chance = 1.0 / cfg.symbols
    test_tokens, test_labels = first_symbol_batch(
        run.generator("test"), cfg.test_size, cfg.distractors, cfg.symbols, cfg.distractor_symbols
    )
    test_tokens, test_labels = test_tokens.to(run.device), test_labels.to(run.device)
    probe = test_tokens[: cfg.probe_size], test_labels[: cfg.probe_size]

    def batch_fn(step: int) -> tuple[Tensor, Tensor]:  # the same batches for both networks
        tokens, labels = first_symbol_batch(
            run.generator("train", step), cfg.batch, cfg.distractors, cfg.symbols, cfg.distractor_symbols
        )
        return tokens.to(run.device), labels.to(run.device)

    def loss_fn(model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, float]]:
        tokens, labels = batch
        logits = model(tokens)
        accuracy = (logits.argmax(-1) == labels).float().mean().item()
        return F.cross_entropy(logits, labels), {"acc": accuracy}

    def eval_fn(model: nn.Module) -> dict[str, float]:
        return {"test_accuracy": (model(test_tokens).argmax(-1) == test_labels).float().mean().item()}

    # Both networks are built before either trains, with torch's default init; the LSTM's one
    # explicit change is the open forget gate.
    models = {
        name: SymbolRecall(name, cfg.symbols, cfg.distractor_symbols, cfg.hidden).to(run.device)
        for name in ("lstm", "rnn")
    }
    open_forget_gate(models["lstm"].recurrent, cfg.forget_bias)
    at_init = {name: gradient_by_lag(model, *probe) for name, model in models.items()}

    histories, accuracy, trained = {}, {}, {}
    for name, model in models.items():
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        histories[name] = fit(
            run,
            name,
            model,
            optimizer,
            steps=cfg.steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            clip_norm=cfg.clip_norm,
            eval_fn=eval_fn,
            eval_every=cfg.eval_every,
        )
        accuracy[name] = histories[name].evals[-1]["test_accuracy"]
        trained[name] = gradient_by_lag(model, *probe)
        run.log(f"{name}: test accuracy {accuracy[name]:.3f} (chance {chance:.3f})")

    # How much of the error signal reaches the symbol, relative to the last input.
    reach = {name: float(g[-1] / g[0]) for name, g in trained.items()}
    advantage = reach["lstm"] / max(reach["rnn"], torch.finfo(torch.float64).tiny)

    run.metric("chance", chance)
    run.metric("lag", cfg.distractors)
    for name in models:
        h = histories[name]
        run.metric(f"{name}_test_accuracy", accuracy[name])
        run.metric(f"{name}_final_train_loss", h.final_loss())
        run.metric(f"{name}_train_seconds", round(h.seconds, 2))
        run.metric(
            f"{name}_steps_to_95", next((e["step"] for e in h.evals if e["test_accuracy"] >= 0.95), None)
        )
        run.metric(f"{name}_gradient_reach", reach[name])
        run.metric(f"{name}_gradient_reach_at_init", float(at_init[name][-1] / at_init[name][0]))
        run.metric(f"{name}_gradient_by_lag", trained[name])
        run.metric(f"{name}_gradient_by_lag_at_init", at_init[name])
        run.metric(
            f"{name}_test_accuracy_curve",
            {"step": [e["step"] for e in h.evals], "accuracy": [e["test_accuracy"] for e in h.evals]},
        )

    run.check(CARD.claims[0], accuracy["lstm"])
    rnn_spec = CARD.claims[1]
    run.claim(rnn_spec.statement, accuracy["rnn"], f"<= {chance + 0.10:.4g}", rnn_spec.paper_value)
    run.check(CARD.claims[2], advantage)

    _plot_training(run, histories, chance)
    _plot_gradients(run, trained, at_init, cfg.distractors)


# ---- figures ---------------------------------------------------------------------------------

_COLORS = {"lstm": "tab:blue", "rnn": "tab:red"}
_LABELS = {"lstm": "LSTM", "rnn": "vanilla RNN"}


def _plot_training(run: Run, histories: dict, chance: float) -> None:
    from landmarks.plots import plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, h in histories.items():
        ax_loss.plot(h.step, h.loss, color=_COLORS[name], lw=0.8, label=_LABELS[name])
        steps = [e["step"] for e in h.evals]
        ax_acc.plot(
            steps, [e["test_accuracy"] for e in h.evals], "o-", ms=3, color=_COLORS[name], label=_LABELS[name]
        )
    ax_loss.axhline(math.log(1 / chance), color="gray", ls=":", label="chance (ln K)")
    ax_loss.set(xlabel="training step", ylabel="cross-entropy (train batch)", title="training loss")
    ax_acc.axhline(chance, color="gray", ls=":", label="chance")
    ax_acc.axhline(0.95, color="black", ls="--", lw=0.8, label="claim: 95 %")
    ax_acc.set(
        xlabel="training step", ylabel="test accuracy", title="recall of the first symbol", ylim=(0, 1.05)
    )
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
    run.save_figure(
        fig,
        "training_curves",
        "Same data, steps, optimizer and hidden size: the LSTM learns to recall the first symbol; "
        "the vanilla RNN stays at chance.",
    )


def _plot_gradients(run: Run, trained: dict, at_init: dict, lag: int) -> None:
    from landmarks.plots import plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name in trained:
        lags = range(len(trained[name]))
        ax.semilogy(
            lags, trained[name] / trained[name][0], color=_COLORS[name], label=f"{_LABELS[name]}, trained"
        )
        ax.semilogy(
            lags,
            at_init[name] / at_init[name][0],
            color=_COLORS[name],
            ls="--",
            alpha=0.6,
            label=f"{_LABELS[name]}, at initialisation",
        )
    ax.axvline(lag, color="gray", ls=":", lw=0.8)
    ax.set(
        xlabel="time lag T − t (steps back from the question)",
        ylabel="‖∂L/∂x_t‖ / ‖∂L/∂x_T‖",
        title="how much error signal reaches the input t steps back",
    )
    ax.legend(fontsize=8)
    run.save_figure(
        fig,
        "gradient_vs_lag",
        f"Gradient of the loss with respect to each input, relative to the last one (log scale). "
        f"Through the RNN it decays exponentially with the lag; through the LSTM it reaches the "
        f"symbol at lag {lag}.",
    )
