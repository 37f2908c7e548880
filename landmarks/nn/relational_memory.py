"""The Relational Memory Core (Santoro, Faulkner, Raposo et al., 2018, Sec. 3 and Fig. 1).

A recurrent core whose state is not one vector but a matrix M of N memory *slots*, each a row
of E numbers. At every step the slots look at each other, and at the new input, through
multi-head dot-product attention, so what is stored can be compared with what arrives:

1. the input x_t is projected to a row of E numbers;
2. every slot attends over the slots and the input (Eq. 2-3): the queries come from M, the keys
   and values from [M; x_t], so M̃ = MHA(M, [M; x], [M; x]);
3. a residual connection and layer norm, then a row-wise MLP with another residual and layer
   norm, as in a Transformer block (Sec. 3.2); repeated ``blocks`` times;
4. LSTM-style gating per unit (Sec. 3.3): an input gate i and a forget gate f, each computed
   from x_t and tanh(M), so M_t = i ⊙ tanh(M̂) + f ⊙ M_{t−1}.

The attention is ``landmarks.nn.attention.MultiHeadAttention``, the one every paper here
shares. Everything is batched over the sequences and the slots; only the loop over time
remains, as in any recurrent network.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from landmarks.nn.attention import MultiHeadAttention

__all__ = ["RelationalMemory"]


class RelationalMemory(nn.Module):
    """``slots`` × ``width`` memory, read with ``heads`` heads; inputs (B, T, input_size).

    ``forward`` returns the memory after every step, flattened, (B, T, slots · width), and the
    final memory (B, slots, width). ``gate_style`` is "unit" (a gate per number, the paper's
    default), "memory" (one per slot) or None (no gating: M_t = M̂). With ``blocks`` > 1 the
    attention and MLP step is repeated with the same weights, over the same embedded input.
    """

    def __init__(
        self,
        input_size: int,
        slots: int,
        width: int,
        heads: int,
        blocks: int = 1,
        mlp_layers: int = 2,
        gate_style: str | None = "unit",
        forget_bias: float = 1.0,
        input_bias: float = 0.0,
    ) -> None:
        super().__init__()
        if slots < 1:
            raise ValueError(f"slots must be >= 1 (a memory of no slots holds nothing), got {slots}")
        if heads < 1 or width % heads:
            raise ValueError(f"width ({width}) must be a positive multiple of heads ({heads})")
        if blocks < 1 or mlp_layers < 1:
            raise ValueError(f"blocks and mlp_layers must be >= 1, got {blocks} and {mlp_layers}")
        if gate_style not in ("unit", "memory", None):
            raise ValueError(f"gate_style must be 'unit', 'memory' or None, got {gate_style!r}")
        self.slots, self.width, self.blocks = slots, width, blocks
        self.gate_style, self.forget_bias, self.input_bias = gate_style, forget_bias, input_bias
        self.embed = nn.Linear(input_size, width)  # x_t → a row like a slot
        self.attention = MultiHeadAttention(width, heads)
        self.norm_attention = nn.LayerNorm(width)
        mlp: list[nn.Module] = []
        for i in range(mlp_layers):
            mlp += [nn.Linear(width, width)] + ([nn.ReLU()] if i < mlp_layers - 1 else [])
        self.mlp = nn.Sequential(*mlp)
        self.norm_mlp = nn.LayerNorm(width)
        gate_size = {"unit": width, "memory": 1, None: 0}[gate_style]
        if gate_size:
            self.gate_input = nn.Linear(width, 2 * gate_size)  # W x_t for (i, f)
            self.gate_memory = nn.Linear(width, 2 * gate_size)  # U tanh(M) for (i, f)

    def initial_state(
        self, batch: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Tensor:
        """Every slot different at the start: the identity matrix, cut or padded with zeros to
        (slots, width), for every sequence (B, slots, width)."""
        return torch.eye(self.slots, self.width, device=device, dtype=dtype).expand(batch, -1, -1).clone()

    def attend(self, memory: Tensor, x: Tensor) -> Tensor:
        """Steps 2 and 3: M̂ from the memory (B, N, E) and the embedded input (B, 1, E)."""
        for _ in range(self.blocks):
            memory_and_input = torch.cat([memory, x], 1)  # [M; x]  (B, N + 1, E)
            attended, _ = self.attention(memory, memory_and_input, memory_and_input)
            memory = self.norm_attention(memory + attended)
            memory = self.norm_mlp(memory + self.mlp(memory))
        return memory

    def step(self, x: Tensor, memory: Tensor) -> Tensor:
        """One time step: input (B, input_size), memory (B, N, E) → the next memory."""
        x = self.embed(x).unsqueeze(1)  # (B, 1, E)
        candidate = self.attend(memory, x)
        if self.gate_style is None:
            return candidate
        gates = self.gate_input(x) + self.gate_memory(torch.tanh(memory))  # (B, N, 2·gate)
        i, f = gates.chunk(2, dim=-1)
        i = torch.sigmoid(i + self.input_bias)
        f = torch.sigmoid(f + self.forget_bias)
        return i * torch.tanh(candidate) + f * memory

    def forward(self, inputs: Tensor, memory: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if memory is None:
            memory = self.initial_state(inputs.shape[0], inputs.device, inputs.dtype)
        outputs = []
        for x_t in inputs.unbind(1):  # unbind: one stacked gradient, not a zero-filled one per step
            memory = self.step(x_t, memory)
            outputs.append(memory.flatten(1))
        return torch.stack(outputs, 1), memory
