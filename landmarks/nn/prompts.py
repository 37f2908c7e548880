"""Steering a frozen language model with learned vectors instead of changed weights.

**Prompt tuning** (Lester, Al-Rfou, Constant, 2021, "The Power of Scale for
Parameter-Efficient Prompt Tuning"): P vectors in the embedding space are put before every
input's token embeddings and trained; nothing else changes (Sec. 2). They start as the
embeddings of P tokens drawn from the vocabulary (Sec. 3.2, "sampled vocab"), so they start
where real tokens live. P · d numbers.

**Prefix tuning** (Li, Liang, 2021, "Prefix-Tuning: Optimizing Continuous Prompts for
Generation"): at *every* layer, P extra keys and values that every position attends first, as
if a prefix had been read before the text (Sec. 4.2: the prefix activations h_i = P_θ[i, :]).
Optimizing P_θ directly is unstable, so it is reparametrized as P_θ[i, :] = MLP_θ(P'_θ[i, :])
with a smaller P'_θ (Sec. 4.3); after training the MLP is dropped and only P_θ is kept
(``freeze``): P · n_layer · 2 · d numbers.

Both wrap ``landmarks.nn.transformer.DecoderOnlyTransformer`` and call it with its ``prompt``
and ``prefix`` arguments; both freeze the model's own parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from landmarks.nn.transformer import DecoderOnlyTransformer

__all__ = ["PrefixTuning", "PromptTuning"]


def _freeze(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


class PromptTuning(nn.Module):
    """A frozen decoder-only model behind ``n_tokens`` trainable input embeddings."""

    def __init__(
        self, model: DecoderOnlyTransformer, n_tokens: int, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        if not 1 <= n_tokens < model.cfg.block_size:
            raise ValueError(
                f"a soft prompt needs between 1 and block_size − 1 = {model.cfg.block_size - 1} tokens, "
                f"got {n_tokens}"
            )
        _freeze(model)
        self.model, self.n_tokens = model, n_tokens
        tokens = torch.randint(0, model.cfg.vocab_size, (n_tokens,), generator=generator)
        self.prompt = nn.Parameter(
            model.tok_emb.weight.detach()[tokens.to(model.tok_emb.weight.device)].clone()
        )

    def forward(self, idx: Tensor) -> Tensor:
        """Logits (B, T, V) for the tokens (B, T); T ≤ block_size − n_tokens."""
        return self.model(idx, prompt=self.prompt)


class PrefixTuning(nn.Module):
    """A frozen decoder-only model whose every attention layer first attends ``n_tokens``
    trainable keys and values, produced by a small MLP while training (``hidden`` > 0)."""

    def __init__(
        self,
        model: DecoderOnlyTransformer,
        n_tokens: int,
        hidden: int = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        """``hidden`` = 0: P_θ trained directly, starting as the keys and values the model itself
        computes for ``n_tokens`` tokens drawn from the vocabulary (Li & Liang, Sec. 7.4: an
        initialization from real words' activations trains better); ``hidden`` > 0: through the
        reparametrization MLP, from a small random P'_θ."""
        super().__init__()
        if n_tokens < 1:
            raise ValueError(f"a prefix needs at least 1 token, got {n_tokens}")
        if hidden < 0:
            raise ValueError(f"the reparametrization's hidden width must be >= 0 (0: none), got {hidden}")
        _freeze(model)
        cfg = model.cfg
        self.model, self.n_tokens = model, n_tokens
        self.n_layer, self.n_head, self.head_dim = cfg.n_layer, cfg.n_head, cfg.d_model // cfg.n_head
        width = cfg.n_layer * 2 * cfg.d_model  # keys and values of every layer, for one prefix position
        if hidden:  # P_θ = MLP_θ(P'_θ)  (Sec. 4.3)
            self.seed = nn.Parameter(torch.randn(n_tokens, cfg.d_model) * 0.02)
            self.mlp: nn.Module | None = nn.Sequential(
                nn.Linear(cfg.d_model, hidden), nn.Tanh(), nn.Linear(hidden, width)
            )
            self.prefix = None
        else:
            self.mlp = None
            self.prefix = nn.Parameter(self._activations_of_tokens(generator))

    @torch.no_grad()
    def _activations_of_tokens(self, generator: torch.Generator | None) -> Tensor:
        """(P, n_layer · 2 · d): every layer's keys and values for P random vocabulary tokens."""
        model = self.model
        if self.n_tokens > model.cfg.block_size:
            raise ValueError(
                f"a prefix initialized from tokens holds at most block_size = {model.cfg.block_size}"
            )
        device = model.tok_emb.weight.device
        tokens = torch.randint(0, model.cfg.vocab_size, (1, self.n_tokens), generator=generator).to(device)
        caches = model.new_caches()
        was = model.training
        model.eval()
        model(tokens, caches=caches)
        model.train(was)
        parts = []
        for cache in caches:  # each (1, h, P, d_k) → (P, h · d_k)
            for t in (cache.k, cache.v):
                parts.append(t[0, :, : self.n_tokens].transpose(0, 1).reshape(self.n_tokens, -1))
        return torch.cat(parts, dim=1).clone()

    def prefix_table(self) -> Tensor:
        """P_θ: (n_tokens, n_layer · 2 · d_model)."""
        return self.mlp(self.seed) if self.mlp is not None else self.prefix

    def prefix_kv(self) -> list[tuple[Tensor, Tensor]]:
        """Per layer, the prefix's keys and values, each (h, P, d_k)."""
        table = self.prefix_table().view(self.n_tokens, self.n_layer, 2, self.n_head, self.head_dim)
        table = table.permute(1, 2, 3, 0, 4)  # (layer, k|v, h, P, d_k)
        return [(table[i, 0], table[i, 1]) for i in range(self.n_layer)]

    @torch.no_grad()
    def freeze(self) -> None:
        """Keep P_θ and drop the MLP that produced it (what is stored after training)."""
        if self.mlp is not None:
            self.prefix = nn.Parameter(self.prefix_table().detach().clone())
            self.mlp, self.seed = None, None

    def forward(self, idx: Tensor) -> Tensor:
        return self.model(idx, prefix=self.prefix_kv())
