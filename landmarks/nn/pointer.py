"""Pointing at the input: pointer attention, a pointer decoder, and set2set.

Vinyals, Fortunato and Jaitly (2015), "Pointer Networks": when the answer is a sequence of
positions of the input (a convex hull, a tour, a sorting permutation), the output vocabulary is
the input itself and changes with every example. The decoder's attention is the output: its
scores over the input positions are the logits of p(C_i | C_1, ..., C_{i−1}, P) (Eq. 3):

    u^i_j = v^T tanh(W1 e_j + W2 d_i),   j ∈ (1, ..., n)
    p(C_i | C_1, ..., C_{i−1}, P) = softmax(u^i)

Vinyals, Bengio and Kudlur (2016), "Order Matters", Sec. 4.2: a set has no order, so it should
be read by something that has none either. The process block (set2set) is an LSTM without
input that attends over the set's memories for T steps (Eqs. 3–7):

    q_t = LSTM(q*_{t−1})                e_{i,t} = f(m_i, q_t)   (here the dot product)
    a_{i,t} = softmax_i(e_{i,t})        r_t = Σ_i a_{i,t} m_i         q*_t = [q_t ; r_t]

Σ and softmax do not care about the order of i, so q*_T is invariant to permutations of the set.

Conventions shared by the papers that use this module. A pointer vocabulary has n + 1 slots:
slot 0 (``END``) is a learned "end of output" memory and, as the decoder's first input, a
learned "start" vector; slot k ≥ 1 is input element k − 1. Pointing at slot 0 ends the output.
At every step the decoder may point at a slot only if it is a real element (not padding) and,
with ``mask_used`` (the default), has not been pointed at yet; ``END`` is allowed always, or,
for outputs that must use every element (``complete``: tours), only once all are used. Decoding plugs into the greedy and beam
search of ``landmarks.nn.decoding`` with ``bos = eos = END``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.nn.attention import AdditiveAttention
from landmarks.nn.decoding import search
from landmarks.nn.recurrent import LSTM, LSTMCell

__all__ = [
    "END",
    "PointerAttention",
    "PointerDecoder",
    "PointerMemory",
    "Set2Set",
    "allowed_pointers",
    "pointer_targets",
]

END = 0  # pointer slot 0: the end of the output (and, as an input, the start)


# ---- the pointer attention (Ptr-Net Eq. 3) ------------------------------------------------------


class PointerAttention(AdditiveAttention):
    """u_j = v^T tanh(W1 e_j + W2 d_i): Bahdanau's additive score, used as the output itself.

    ``AdditiveAttention``'s key projection is W1 (with the bias), its query projection W2 and
    its score v. ``forward`` (inherited) still gives a soft read of the keys (a glimpse);
    ``scores`` gives the pointer logits.
    """

    def scores(self, query: Tensor, projected_keys: Tensor, allowed: Tensor) -> Tensor:
        """Masked logits u (..., S) for queries d_i (..., Dq) and W1 e_j (B, S, Dh).

        ``query`` is (B, Dq) for one step or (B, T, Dq) for every step of a teacher-forced
        sequence; ``allowed`` broadcasts to the result and is False where a slot may not be
        chosen (its logit becomes −inf, so its probability is exactly 0).
        """
        q = self.query_proj(query)  # W2 d_i
        if q.dim() == 2:
            u = self.score(torch.tanh(q[:, None, :] + projected_keys)).squeeze(-1)  # (B, S)
        else:
            u = self.score(torch.tanh(q[:, :, None, :] + projected_keys[:, None])).squeeze(-1)  # (B, T, S)
        return u.masked_fill(~allowed, float("-inf"))


def allowed_pointers(valid: Tensor, used: Tensor, complete: bool) -> Tensor:
    """Which slots may be pointed at next: (..., S) bool from ``valid`` (B, S) and ``used`` (..., S).

    Real, unused elements always; ``END`` always, or with ``complete`` only once no element is
    left. Some slot is therefore always allowed, so a softmax over them is never all −inf.
    """
    free = valid & ~used  # (..., S)
    free[..., END] = False
    left = free.any(-1, keepdim=True)  # (..., 1)
    end = ~left if complete else torch.ones_like(left)
    return torch.cat([end, free[..., 1:]], dim=-1)


def pointer_targets(target: Tensor, target_len: Tensor) -> Tensor:
    """Element indices (B, L), −1 past ``target_len``, → pointer slots (B, L + 1): k ↦ k + 1,
    then ``END`` after each sequence, then −1 (ignored by the loss)."""
    B, L = target.shape
    slots = torch.cat([target + 1, target.new_full((B, 1), -1)], dim=1)  # (B, L+1)
    t = torch.arange(L + 1, device=target.device)[None, :]
    slots = torch.where(t == target_len[:, None], END, slots)
    return torch.where(t > target_len[:, None], -1, slots)


# ---- the decoder ---------------------------------------------------------------------------------


class PointerMemory(NamedTuple):
    """What the decoder points into and reads from, fixed for one input: all (B, n + 1, ·)."""

    keys: Tensor  # e_j: what the pointer scores (slot 0: the learned end memory)
    projected: Tensor  # W1 e_j, computed once per input
    inputs: Tensor  # the decoder's input when slot j was the last pointed at (slot 0: start)
    valid: Tensor  # bool, False at padding


class PointerDecoder(nn.Module):
    """An LSTM d_i = LSTM(d_{i−1}, x_{C_{i−1}}) whose pointer attention over e_j is its output.

    The decoder's input at step i is the (embedded) element it pointed at in step i − 1, and a
    learned start vector at step 1. Its recurrence does not read the attention, so under
    teacher forcing every d_i comes from one fused LSTM call over the target sequence.
    """

    def __init__(
        self, input_size: int, key_size: int, hidden_size: int, attention_size: int, mask_used: bool = True
    ) -> None:
        super().__init__()
        self.mask_used = mask_used  # False: any element may be pointed at again (the paper's plain Ptr-Net)
        self.start = nn.Parameter(torch.empty(input_size).uniform_(-0.1, 0.1))  # first input
        self.end = nn.Parameter(torch.empty(key_size).uniform_(-0.1, 0.1))  # e_0: the end memory
        self.lstm = LSTM(input_size, hidden_size, batch_first=True)
        self.pointer = PointerAttention(hidden_size, key_size, attention_size)

    def memory(self, keys: Tensor, inputs: Tensor, valid: Tensor) -> PointerMemory:
        """Memory for elements with keys e_j (B, n, Dk), decoder inputs (B, n, Di), valid (B, n)."""
        B = keys.shape[0]
        keys = torch.cat([self.end.expand(B, 1, -1), keys], dim=1)  # (B, n+1, Dk)
        inputs = torch.cat([self.start.expand(B, 1, -1), inputs], dim=1)  # (B, n+1, Di)
        valid = torch.cat([valid.new_ones(B, 1), valid], dim=1)  # (B, n+1)
        return PointerMemory(keys, self.pointer.project_keys(keys), inputs, valid)

    def forward(
        self, state: tuple[Tensor, Tensor], memory: PointerMemory, slots: Tensor, complete: bool
    ) -> Tensor:
        """Teacher forcing: log p(slot) (B, T, n + 1) at each step of ``slots`` (B, T), −1 = pad.

        ``state`` is the initial (h, c), each (B, H).
        """
        B, T = slots.shape
        fed = torch.cat([slots.new_full((B, 1), END), slots[:, :-1]], dim=1).clamp(min=0)  # C_{i−1}
        x = _gather_rows(memory.inputs, fed)  # (B, T, Di)
        d, _ = self.lstm(x, (state[0][None], state[1][None]))  # (B, T, H): d_i for every i
        # used[i] = the slots pointed at before step i (END never counts as used)
        chosen = F.one_hot(slots.clamp(min=0), memory.keys.shape[1]).bool()  # (B, T, n+1)
        chosen &= (slots >= 0)[..., None]
        used = (chosen.cumsum(1) - chosen.long()) > 0  # (B, T, n+1): exclusive prefix
        used &= self.mask_used
        allowed = allowed_pointers(memory.valid[:, None, :].expand(-1, T, -1), used, complete)
        return torch.log_softmax(self.pointer.scores(d, memory.projected, allowed), dim=-1)

    def step_fn(self, complete: bool):  # type: ignore[no-untyped-def]
        """The step function ``landmarks.nn.decoding`` searches with; state = (h, c, used, memory)."""

        def step(slots: Tensor, state: tuple) -> tuple[Tensor, tuple]:
            h, c, used, memory = state
            projected, inputs, valid = memory.projected, memory.inputs, memory.valid
            x = _gather_rows(inputs, slots[:, None])  # (N, 1, Di): the element just chosen
            used = used | (F.one_hot(slots, used.shape[1]).bool() & self.mask_used)
            used[:, END] = False
            _, (h, c) = self.lstm(x, (h[None], c[None]))
            h, c = h[0], c[0]
            allowed = allowed_pointers(valid, used, complete)
            log_p = torch.log_softmax(self.pointer.scores(h, projected, allowed), dim=-1)
            return log_p, (h, c, used, memory)

        return step

    @torch.no_grad()
    def decode(
        self, state: tuple[Tensor, Tensor], memory: PointerMemory, complete: bool, beam: int = 1
    ) -> tuple[Tensor, Tensor]:
        """Greedy (beam 1) or beam-search pointers: element indices (B, n), −1 past each length,
        and the lengths (B,) (the END pointer not counted). Without ``mask_used`` a decoder may
        never point at END; its length is then n + 1 and only the first n pointers are kept."""
        B, S = memory.valid.shape
        used = memory.valid.new_zeros(B, S)
        search_state = (state[0], state[1], used, memory)
        slots, _ = search(  # at most n elements + END
            self.step_fn(complete),
            search_state,
            B,
            bos=END,
            eos=END,
            max_len=S,
            beam=beam,
            device=memory.keys.device,
        )
        ended = slots.eq(END).cumsum(1) > 0  # (B, L): at or after the first END
        lengths = (~ended).sum(1)
        elements = torch.where(ended, -1, slots - 1)
        width = S - 1
        if elements.shape[1] < width:
            elements = F.pad(elements, (0, width - elements.shape[1]), value=-1)
        return elements[:, :width], lengths


def _gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """x (B, S, D), index (B, T) → x[b, index[b, t]] (B, T, D)."""
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))


# ---- set2set: the process block of Order Matters ---------------------------------------------------


class Set2Set(nn.Module):
    """q*_T from memories m_i (B, n, D): T steps of an input-less LSTM attending over the set.

    Eqs. 3–7 of Order Matters: q_t = LSTM(q*_{t−1}), e_{i,t} = m_i · q_t, a_{i,t} = softmax_i,
    r_t = Σ_i a_{i,t} m_i, q*_t = [q_t ; r_t]. Padding (``valid`` False) gets no attention.
    With ``steps = 0`` the output is q*_0 = 0: the set has not been read at all.
    """

    def __init__(self, size: int, steps: int) -> None:
        super().__init__()
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        self.size, self.steps = size, steps
        lstm = LSTMCell(2 * size, size)  # input q*_{t−1} (2D), state q_t (D)
        # Built for every ``steps`` so the modules created after it start from the same weights
        # whatever P is; kept only when used (DDP refuses parameters that get no gradient).
        self.lstm = lstm if steps > 0 else None

    def forward(self, memory: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q*_T (B, 2D) and the attention of the last step (B, n) (zeros when T = 0)."""
        B, n, D = memory.shape
        q_star = memory.new_zeros(B, 2 * D)  # q*_0
        h, c = memory.new_zeros(B, D), memory.new_zeros(B, D)
        a = memory.new_zeros(B, n)
        for _ in range(self.steps):
            assert self.lstm is not None
            h, c = self.lstm(q_star, (h, c))  # Eq. 3: q_t = LSTM(q*_{t−1})
            e = torch.bmm(memory, h[:, :, None]).squeeze(-1)  # Eq. 4: e_{i,t} = m_i · q_t  (B, n)
            if valid is not None:
                e = e.masked_fill(~valid, float("-inf"))
            a = torch.softmax(e, dim=-1)  # Eq. 5
            r = torch.bmm(a[:, None, :], memory).squeeze(1)  # Eq. 6: r_t = Σ_i a_{i,t} m_i  (B, D)
            q_star = torch.cat([h, r], dim=-1)  # Eq. 7
        return q_star, a
