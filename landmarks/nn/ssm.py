"""The selective state-space model of Mamba (Gu, Dao, 2023, "Mamba: Linear-Time Sequence
Modeling with Selective State Spaces"), and a language model of its blocks.

A state-space layer keeps, per channel, a state h ∈ R^N and reads the input x one step at a
time (Sec. 2, Eq. 1-2, discretized by zero-order hold with step Δ):

    h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t x_t,     y_t = C_t · h_t + D x_t

S4 fixed Δ, B and C; Mamba's *selection* (Sec. 3.2, Algorithm 2) makes them functions of the
input, Δ_t = softplus(W_Δ x_t + b_Δ) (through a rank-R bottleneck), B_t = W_B x_t,
C_t = W_C x_t, so the model decides per token what to keep and what to forget. A is diagonal,
negative and input-independent (S4D-real initialization: A_n = −n). The recurrence is linear in
h, so training runs it through ``landmarks.nn.scan.linear_scan``, with its gradient written out,
never autograd through a loop: a parallel scan, or on a CPU, where it is faster for a batch's
steps of thousands of numbers, one in-place sweep. The tensors are laid out time first so that
each step is contiguous. Generating runs it one step at a time with a state of fixed size,
whatever the length (``step``).

The block around it (Fig. 3): a linear layer widens the input to 2E; one half goes through a
causal depthwise convolution (width 4), SiLU and the SSM, and is gated by SiLU of the other
half; a linear layer projects back. Parameter names are the reference implementation's
(``in_proj``, ``conv1d``, ``x_proj``, ``dt_proj``, ``A_log``, ``D``, ``out_proj``), so
Hugging Face's ``MambaMixer`` state dict loads and gives the same outputs (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.nn.scan import linear_scan, sequential_scan

__all__ = ["MambaConfig", "MambaLM", "RMSNorm", "SelectiveSSM"]


class RMSNorm(nn.Module):
    """x / RMS(x) · g (Zhang, Sennrich, 2019), the norm Mamba's residual blocks use."""

    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SelectiveSSM(nn.Module):
    """One Mamba block's mixer: (B, T, d_model) → (B, T, d_model)."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        expand: int = 2,
        d_conv: int = 4,
        dt_rank: int = 0,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
    ) -> None:
        super().__init__()
        d_inner = expand * d_model
        self.d_inner, self.d_state, self.d_conv = d_inner, d_state, d_conv
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)
        # Δ starts log-uniform in [dt_min, dt_max]: the bias is softplus⁻¹ of it (Sec. 3.6)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            nn.init.uniform_(self.dt_proj.weight, -(self.dt_rank**-0.5), self.dt_rank**-0.5)
        self.A_log = nn.Parameter(
            torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1)
        )
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def ssm_inputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """For x (..., E): the decay exp(Δ A) (..., E, N), the input Δ B x (..., E, N) and C (..., N)."""
        dt, b, c = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # Δ_t > 0, one per channel
        a = -torch.exp(self.A_log)  # (E, N), negative: every mode decays
        decay = torch.exp(dt[..., None] * a)  # exp(Δ A), in (0, 1)
        drive = (dt * x)[..., None] * b[..., None, :]  # Δ B x (zero-order hold for A, Euler for B)
        return decay, drive, c

    def forward(self, u: Tensor, sequential: bool = False) -> Tensor:
        t = u.shape[1]
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, E) each
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :t].transpose(1, 2))  # causal: drop the tail
        # time first, (T, B, ...): the scan then runs over contiguous steps with no copies
        decay, drive, c = self.ssm_inputs(x.transpose(0, 1))  # (T, B, E, N), (T, B, E, N), (T, B, N)
        h = (sequential_scan if sequential else linear_scan)(decay, drive, dim=0)  # every h_t
        y = (h @ c[..., None]).squeeze(-1).transpose(0, 1) + self.D * x  # C_t · h_t + D x_t
        return self.out_proj(y * F.silu(z))

    def init_state(self, batch: int) -> tuple[Tensor, Tensor]:
        """(the last d_conv − 1 inputs of the convolution, the SSM state h): a fixed size."""
        w = self.in_proj.weight
        return w.new_zeros(batch, self.d_inner, self.d_conv - 1), w.new_zeros(
            batch, self.d_inner, self.d_state
        )

    def step(self, u: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One token (B, d_model) → (B, d_model) and the new state: O(1) in the length so far."""
        conv, h = state
        x, z = self.in_proj(u).chunk(2, dim=-1)
        window = torch.cat([conv, x[..., None]], dim=-1)  # (B, E, d_conv)
        x = F.silu((window * self.conv1d.weight[:, 0]).sum(-1) + self.conv1d.bias)
        decay, drive, c = self.ssm_inputs(x)
        h = decay * h + drive
        y = (h @ c[..., None]).squeeze(-1) + self.D * x
        return self.out_proj(y * F.silu(z)), (window[..., 1:], h)


@dataclass(frozen=True)
class MambaConfig:
    vocab_size: int
    n_layer: int = 2
    d_model: int = 64
    d_state: int = 16
    expand: int = 2
    d_conv: int = 4

    def validate(self) -> None:
        for name in ("vocab_size", "n_layer", "d_model", "d_state", "expand", "d_conv"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class MambaLM(nn.Module):
    """Token embedding, pre-norm residual Mamba blocks, a final norm, a tied output layer."""

    def __init__(self, cfg: MambaConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.norms = nn.ModuleList(RMSNorm(cfg.d_model) for _ in range(cfg.n_layer))
        self.mixers = nn.ModuleList(
            SelectiveSSM(cfg.d_model, cfg.d_state, cfg.expand, cfg.d_conv) for _ in range(cfg.n_layer)
        )
        self.norm_f = RMSNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        nn.init.normal_(self.tok_emb.weight, std=0.02)
        self.lm_head.weight = self.tok_emb.weight
        for mixer in self.mixers:  # residual outputs scaled down with depth, as GPT-2 and Mamba do
            nn.init.kaiming_uniform_(mixer.out_proj.weight, a=math.sqrt(5))
            with torch.no_grad():
                mixer.out_proj.weight /= math.sqrt(cfg.n_layer)

    def forward(self, idx: Tensor, sequential: bool = False) -> Tensor:
        x = self.tok_emb(idx)
        for norm, mixer in zip(self.norms, self.mixers, strict=True):
            x = x + mixer(norm(x), sequential=sequential)
        return self.lm_head(self.norm_f(x))

    @torch.no_grad()
    def generate_greedy(self, idx: Tensor, max_new_tokens: int) -> Tensor:
        """Read ``idx`` (B, T) a token at a time, then append greedy tokens: a state of fixed size."""
        states = [m.init_state(idx.shape[0]) for m in self.mixers]

        def step(token: Tensor) -> Tensor:
            x = self.tok_emb(token)
            for i, (norm, mixer) in enumerate(zip(self.norms, self.mixers, strict=True)):
                out, states[i] = mixer.step(norm(x), states[i])
                x = x + out
            return self.lm_head(self.norm_f(x))

        logits = None
        for t in range(idx.shape[1]):
            logits = step(idx[:, t])
        out = [idx]
        for _ in range(max_new_tokens):
            assert logits is not None
            token = logits.argmax(-1)
            out.append(token[:, None])
            logits = step(token)
        return torch.cat(out, dim=1)
