"""Recurrent cells and stacks written out gate by gate: vanilla RNN, LSTM and GRU.

Olah (2015), "Understanding LSTM Networks"; Hochreiter & Schmidhuber (1997) for the LSTM;
Gers, Schmidhuber & Cummins (2000) for its forget gate; Cho et al. (2014) for the GRU.

Names, shapes and gate order are torch's, so a ``torch.nn.LSTM`` (or ``nn.LSTMCell``, ``nn.GRU``
...) state dict loads with ``strict=True`` and the two compute the same function:

    stacks  weight_ih_l{k} (G·H, I)   weight_hh_l{k} (G·H, H)   bias_ih_l{k}, bias_hh_l{k} (G·H,)
    cells   weight_ih, weight_hh, bias_ih, bias_hh (same shapes)

G gate blocks are stacked row-wise: 1 for the RNN, 4 for the LSTM (i, f, g, o), 3 for the GRU
(r, z, n). Olah writes one matrix acting on the concatenation, W_f·[h_{t-1}, x_t]; torch
splits it into W_if·x_t + W_hf·h_{t-1}, with a bias on each half.

Every module has two paths to the same numbers. ``fused=True`` (the default) hands these
weights to torch's own kernels (``torch.lstm`` and friends, what ``nn.LSTM`` calls);
``fused=False`` runs the equations below, one time step at a time. The tests hold the two paths
to each other and to ``torch.nn`` (outputs, final states and gradients). Not supported:
dropout between layers, bidirectional stacks, ``proj_size``, unbatched (2-D) inputs.

Padded batches: ``forward(x, state, lengths=...)`` runs each sequence for its own length, as
``nn.LSTM`` does on a ``PackedSequence``: outputs past a sequence's end are zero and the final
state is the one after its last element. The fused path packs the batch and makes one kernel
call; the explicit path freezes each finished sequence's state.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# ---- one time step: the equations -------------------------------------------------------
# Each step receives x_proj = W_ih·x_t + b_ih, computed for all time steps in one matmul before
# the loop (it does not depend on the recurrence), and adds the recurrent half W_hh·h_{t-1} + b_hh.


def rnn_step(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """Vanilla RNN: h_t = tanh(W·[h_{t-1}, x_t] + b)."""
    return torch.tanh(x_proj + F.linear(h, w_hh, b_hh))  # (B, H)


def lstm_step(
    x_proj: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None
) -> tuple[Tensor, Tensor]:
    """LSTM with forget gate: the cell state C_t changes only by gated, additive updates."""
    gates = x_proj + F.linear(h, w_hh, b_hh)  # (B, 4H): W·[h_{t-1}, x_t] + b for all four gates
    i, f, g, o = gates.chunk(4, dim=-1)  # each (B, H), torch's order i, f, g, o
    i = torch.sigmoid(i)  # i_t = σ(W_i·[h_{t-1}, x_t] + b_i)     input gate: what to write
    f = torch.sigmoid(f)  # f_t = σ(W_f·[h_{t-1}, x_t] + b_f)     forget gate: what to keep
    g = torch.tanh(g)  # C̃_t = tanh(W_C·[h_{t-1}, x_t] + b_C)     candidate values
    o = torch.sigmoid(o)  # o_t = σ(W_o·[h_{t-1}, x_t] + b_o)     output gate: what to show
    c = f * c + i * g  # C_t = f_t ⊙ C_{t-1} + i_t ⊙ C̃_t
    h = o * torch.tanh(c)  # h_t = o_t ⊙ tanh(C_t)
    return h, c


def gru_step(x_proj: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """GRU, in torch's (cuDNN's) form.

    Two differences from Olah's figure: the update gate interpolates the other way round
    (z_t = 1 keeps h_{t-1}), and the reset gate multiplies W_hn·h_{t-1} + b_hn instead of
    h_{t-1} before the matmul. Both are relabellings of the same family of functions.
    """
    x_r, x_z, x_n = x_proj.chunk(3, dim=-1)  # each (B, H), torch's order r, z, n
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)  # each (B, H)
    r = torch.sigmoid(x_r + h_r)  # r_t = σ(W_ir·x_t + b_ir + W_hr·h_{t-1} + b_hr)    reset gate
    z = torch.sigmoid(x_z + h_z)  # z_t = σ(W_iz·x_t + b_iz + W_hz·h_{t-1} + b_hz)    update gate
    n = torch.tanh(x_n + r * h_n)  # n_t = tanh(W_in·x_t + b_in + r_t ⊙ (W_hn·h_{t-1} + b_hn))
    return (1 - z) * n + z * h  # h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}


# ---- cells: one step, with their own weights -------------------------------------------


class _Cell(nn.Module):
    GATES = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, fused: bool = True) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias, self.fused = input_size, hidden_size, bias, fused
        rows = self.GATES * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(rows)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _torch_default_init(self, self.hidden_size)

    def _zeros(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (batch, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        return x.new_zeros(x.shape[0], self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, fused={self.fused}"


class RNNCell(_Cell):
    """h' = tanh(W_ih·x + b_ih + W_hh·h + b_hh); same weights and numbers as ``nn.RNNCell``."""

    GATES = 1

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        h = self._zeros(x) if h is None else h
        if self.fused:
            return torch.rnn_tanh_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return rnn_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)


class LSTMCell(_Cell):
    """One LSTM step, ``(h, c) -> (h', c')``; same weights and numbers as ``nn.LSTMCell``."""

    GATES = 4

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = (self._zeros(x), self._zeros(x)) if state is None else state
        if self.fused:
            return torch.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return lstm_step(F.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh)


class GRUCell(_Cell):
    """One GRU step, ``h -> h'``; same weights and numbers as ``nn.GRUCell``."""

    GATES = 3

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        h = self._zeros(x) if h is None else h
        if self.fused:
            return torch.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)


# ---- stacks: many layers over a whole sequence -----------------------------------------


class _Stack(nn.Module):
    """Layers of one cell type run over a sequence; layer k's outputs h_t are layer k+1's inputs.

    The state is a tuple of (num_layers, B, H) tensors: ``(h,)`` for the RNN and GRU, ``(h, c)``
    for the LSTM.
    """

    GATES = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        fused: bool = True,
    ) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.fused = bias, batch_first, fused
        rows = self.GATES * hidden_size
        for k in range(num_layers):  # registration order = torch's, so the same seed draws the same init
            layer_in = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", nn.Parameter(torch.empty(rows, layer_in)))
            setattr(self, f"weight_hh_l{k}", nn.Parameter(torch.empty(rows, hidden_size)))
            if bias:
                setattr(self, f"bias_ih_l{k}", nn.Parameter(torch.empty(rows)))
                setattr(self, f"bias_hh_l{k}", nn.Parameter(torch.empty(rows)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _torch_default_init(self, self.hidden_size)

    def layer_weights(self, k: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Layer k's (W_ih, W_hh, b_ih, b_hh); the biases are None when ``bias=False``."""
        w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
        if not self.bias:
            return w_ih, w_hh, None, None
        return w_ih, w_hh, getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")

    def flat_weights(self) -> list[Tensor]:
        """All weights in the order torch's fused kernels take them: layer by layer, ih, hh, biases."""
        return [w for k in range(self.num_layers) for w in self.layer_weights(k) if w is not None]

    def step(self, x_proj: Tensor, state: tuple[Tensor, ...], w_hh: Tensor, b_hh: Tensor | None):
        raise NotImplementedError

    def _run(
        self, x: Tensor, state: tuple[Tensor, ...] | None, lengths: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            layout = "(batch, time, features)" if self.batch_first else "(time, batch, features)"
            raise ValueError(
                f"{type(self).__name__} expects a 3-D input {layout} with {self.input_size} features, "
                f"got shape {tuple(x.shape)}"
            )
        batch, steps = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        if lengths is not None:
            _check_lengths(lengths, batch, steps)
        if state is None:
            zeros = x.new_zeros(self.num_layers, batch, self.hidden_size)
            state = (zeros,) * (2 if self.GATES == 4 else 1)
        if not self.fused:
            return self._explicit(x, state, lengths)
        if lengths is None:
            return self._fused(x, state)
        # One kernel call over the packed batch: at step t it runs only the sequences still going.
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False
        )
        state = tuple(part.index_select(1, packed.sorted_indices) for part in state)  # longest first
        data, finals = self._fused(packed.data, state, packed.batch_sizes)
        out, _ = nn.utils.rnn.pad_packed_sequence(
            packed._replace(data=data), batch_first=self.batch_first, total_length=steps
        )
        return out, tuple(part.index_select(1, packed.unsorted_indices) for part in finals)

    def _explicit(
        self, x: Tensor, state: tuple[Tensor, ...], lengths: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self.batch_first:
            x = x.transpose(0, 1)  # (B, T, I) -> (T, B, I): the loop runs over the first axis
        if lengths is not None:
            lengths = lengths.to(x.device)  # lengths may come on the CPU (as packing wants them)
        finals = []
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self.layer_weights(k)
            x_proj = F.linear(x, w_ih, b_ih)  # (T, B, G·H): W_ih·x_t + b_ih for every t, one matmul
            s = tuple(part[k] for part in state)  # this layer's (h_0[, c_0]), each (B, H)
            outputs = []
            # unbind, not x_proj[t]: its backward stacks the T gradients once, where indexing
            # would fill a zero tensor of the whole projection for every step (quadratic in T)
            for t, x_t in enumerate(x_proj.unbind(0)):  # the recurrence: step t needs h_{t-1}
                new = self.step(x_t, s, w_hh, b_hh)
                if lengths is None:
                    s = new
                    outputs.append(s[0])  # h_t
                else:  # a finished sequence keeps its state and outputs zeros
                    going = (t < lengths)[:, None]  # (B, 1)
                    s = tuple(torch.where(going, n, o) for n, o in zip(new, s))
                    outputs.append(torch.where(going, new[0], 0.0))
            x = torch.stack(outputs)  # (T, B, H): the next layer's input sequence
            finals.append(s)
        out = x.transpose(0, 1) if self.batch_first else x
        return out, tuple(torch.stack(parts) for parts in zip(*finals))  # each (num_layers, B, H)

    def _fused(
        self, x: Tensor, state: tuple[Tensor, ...], batch_sizes: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        raise NotImplementedError

    def _kernel(self, kernel, x: Tensor, hx, batch_sizes: Tensor | None = None):  # type: ignore[no-untyped-def]
        """Call one of torch's fused recurrent kernels with this stack's weights.

        With ``batch_sizes`` ``x`` is a packed sequence's data (what ``pack_padded_sequence``
        returns), and the kernel's packed overload runs it.
        """
        # (params, has_biases, num_layers, dropout, train, bidirectional[, batch_first])
        args = self.flat_weights(), self.bias, self.num_layers, 0.0, self.training, False
        # cuDNN refuses a state that is a strided view (Set2Set's expanded zeros, a sliced cache).
        hx = tuple(h.contiguous() for h in hx) if isinstance(hx, tuple) else hx.contiguous()
        with warnings.catch_warnings():
            # cuDNN wants every weight in one buffer, as nn.LSTM keeps them; ours are separate
            # Parameters, which it copies together on each call: the same numbers, a little slower.
            warnings.filterwarnings("ignore", message="RNN module weights are not part of single")
            if batch_sizes is not None:
                return kernel(x, batch_sizes, hx, *args)
            return kernel(x, hx, *args, self.batch_first)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, bias={self.bias}, "
            f"batch_first={self.batch_first}, fused={self.fused}"
        )


class RNN(_Stack):
    """Vanilla (tanh) RNN stack; ``forward(x, h_0=None) -> (output, h_n)`` like ``nn.RNN``."""

    GATES = 1

    def step(self, x_proj, state, w_hh, b_hh):
        (h,) = state
        return (rnn_step(x_proj, h, w_hh, b_hh),)

    def _fused(self, x, state, batch_sizes=None):
        output, h_n = self._kernel(torch.rnn_tanh, x, state[0], batch_sizes)
        return output, (h_n,)

    def forward(
        self, x: Tensor, h_0: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        output, (h_n,) = self._run(x, None if h_0 is None else (h_0,), lengths)
        return output, h_n


class LSTM(_Stack):
    """LSTM stack; ``forward(x, (h_0, c_0)=None) -> (output, (h_n, c_n))`` like ``nn.LSTM``."""

    GATES = 4

    def step(self, x_proj, state, w_hh, b_hh):
        h, c = state
        return lstm_step(x_proj, h, c, w_hh, b_hh)

    def _fused(self, x, state, batch_sizes=None):
        output, h_n, c_n = self._kernel(torch.lstm, x, state, batch_sizes)
        return output, (h_n, c_n)

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        output, (h_n, c_n) = self._run(x, state, lengths)
        return output, (h_n, c_n)


class GRU(_Stack):
    """GRU stack; ``forward(x, h_0=None) -> (output, h_n)`` like ``nn.GRU``."""

    GATES = 3

    def step(self, x_proj, state, w_hh, b_hh):
        (h,) = state
        return (gru_step(x_proj, h, w_hh, b_hh),)

    def _fused(self, x, state, batch_sizes=None):
        output, h_n = self._kernel(torch.gru, x, state[0], batch_sizes)
        return output, (h_n,)

    def forward(
        self, x: Tensor, h_0: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        output, (h_n,) = self._run(x, None if h_0 is None else (h_0,), lengths)
        return output, h_n


# ---- language models over one long stream: truncated backpropagation through time -------------


class TruncatedBPTT(nn.Module):
    """A recurrent language model plus the LSTM state carried from one window of each row to the
    next (truncated BPTT, as ``char-rnn`` and ``rnn-regularization`` train).

    ``model(x, state)`` must return ``(logits, (h, c))`` and have ``num_layers`` and
    ``hidden_size``. The state lives in buffers, so checkpoints save it with the weights and a
    resumed run continues the stream where it stopped. ``forward(x, reset)`` starts from zeros
    when ``reset`` (the first window of a pass over the rows) and keeps the state detached: the
    gradient of a window stops at its first token.
    """

    def __init__(self, model: nn.Module, rows: int) -> None:
        super().__init__()
        self.model = model
        shape = (model.num_layers, rows, model.hidden_size)
        self.register_buffer("carry_h", torch.zeros(shape))
        self.register_buffer("carry_c", torch.zeros(shape))
        # Each process carries the state of its own rows: DDP must not overwrite them with rank 0's.
        from torch.nn.parallel import DistributedDataParallel

        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self, ["carry_h", "carry_c"])

    def forward(self, x: Tensor, reset: bool) -> Tensor:
        state = None if reset else (self.carry_h, self.carry_c)
        logits, (h, c) = self.model(x, state)
        self.carry_h, self.carry_c = h.detach(), c.detach()  # new tensors: the old ones are in the graph
        return logits


@torch.no_grad()
def stream_cross_entropy(model: nn.Module, rows: Tensor, window: int) -> float:
    """Mean cross-entropy (nats per token) of a stream laid out as ``rows`` (R, n), read in
    windows with the state carried across them; every token but each row's first is scored."""
    state, total, count = None, 0.0, 0
    for i in range(0, rows.shape[1] - 1, window):
        y = rows[:, i + 1 : i + 1 + window]
        logits, state = model(rows[:, i : i + y.shape[1]], state)
        total += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
        count += y.numel()
    return total / count


# ---- shared details ---------------------------------------------------------------------


def _torch_default_init(module: nn.Module, hidden_size: int) -> None:
    """torch's default for recurrent layers: every weight and bias ~ U(−1/√H, 1/√H)."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters():
        nn.init.uniform_(p, -bound, bound)


def _check_sizes(input_size: int, hidden_size: int) -> None:
    if input_size < 1 or hidden_size < 1:
        raise ValueError(f"input_size and hidden_size must be positive, got {input_size} and {hidden_size}")


def _check_lengths(lengths: Tensor, batch: int, steps: int) -> None:
    if lengths.shape != (batch,) or lengths.dtype.is_floating_point:
        raise ValueError(
            f"lengths must be integers of shape ({batch},), got {lengths.dtype} of shape {tuple(lengths.shape)}"
        )
    if batch and not 1 <= int(lengths.min()) <= int(lengths.max()) <= steps:
        raise ValueError(f"lengths must lie in [1, {steps}] (the input's time steps), got {lengths.tolist()}")
