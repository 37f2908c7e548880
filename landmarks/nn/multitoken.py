"""Multi-token prediction (Gloeckle, Youbi Idrissi, Rozière, Lopez-Paz, Synnaeve, 2024, "Better
& Faster Large Language Models via Multi-token Prediction").

A shared trunk reads the context; n independent heads, each one Transformer layer, predict the
tokens 1, 2, ..., n places ahead, through the trunk's final norm and the one shared output
layer (Sec. 2, Fig. 1). The loss is the sum of the n cross-entropies. With n = 1 this is the
ordinary next-token model: a trunk of L − 1 layers and one head layer.

**Memory.** The n heads' logits, each (B, T, V), would all be alive at once in a plain
backward. Sec. 2 (Fig. 2) runs the heads one after another instead: the trunk's output z is
detached; each head's loss is computed and back-propagated into z's gradient and freed before
the next head; then the trunk is back-propagated once with the summed gradient
(``sequential_backward``; tested equal to the plain backward of the summed loss).

**Self-speculative decoding** (Sec. 3.2; Stern, Shazeer, Uszkoreit, 2018, blockwise parallel
decoding): heads 2..n draft the next n − 1 tokens for free; the next forward pass feeds the
drafts and checks them against the next-token head, keeping the longest prefix it agrees with
and one token of its own. The output is exactly the greedy next-token output (tested), in
fewer forward passes. Rejected drafts are rolled back from every layer's KV cache.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.nn.attention import KVCache
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig

__all__ = ["MultiTokenTransformer", "greedy", "speculative_greedy"]


class MultiTokenTransformer(nn.Module):
    """A trunk of ``cfg.n_layer − 1`` layers and ``n_future`` one-layer heads."""

    def __init__(self, cfg: TransformerConfig, n_future: int) -> None:
        super().__init__()
        if n_future < 1:
            raise ValueError(f"n_future must be >= 1, got {n_future}")
        if cfg.n_layer < 2:
            raise ValueError(f"the trunk needs at least one layer: n_layer must be >= 2, got {cfg.n_layer}")
        self.cfg, self.n_future = cfg, n_future
        self.trunk = DecoderOnlyTransformer(dataclasses.replace(cfg, n_layer=cfg.n_layer - 1))
        self.heads = nn.ModuleList(cfg.layer() for _ in range(n_future))
        self.heads.apply(self.trunk._init_weights)

    def logits(self, z: Tensor, i: int, cache: KVCache | None = None) -> Tensor:
        """Head ``i`` (0: the next token) on the trunk's output z (B, T, d): (B, T, V)."""
        h = self.heads[i](z, causal=True, cache=cache)
        return self.trunk.lm_head(self.trunk.norm_f(h))

    def forward(self, idx: Tensor) -> Tensor:
        """Next-token logits (B, T, V): head 0, what a plain language model returns."""
        return self.logits(self.trunk(idx, features=True), 0)

    def all_logits(self, idx: Tensor, caches: list[KVCache] | None = None) -> Tensor:
        """Every head's logits, (n_future, B, T, V); ``caches``: the trunk's layers', then the heads'."""
        n_trunk = len(self.trunk.layers)
        z = self.trunk(idx, features=True, caches=caches[:n_trunk] if caches else None)
        return torch.stack(
            [self.logits(z, i, caches[n_trunk + i] if caches else None) for i in range(self.n_future)]
        )

    def new_caches(self) -> list[KVCache]:
        return [KVCache(self.cfg.block_size) for _ in range(len(self.trunk.layers) + self.n_future)]

    def losses(self, idx: Tensor, targets: Tensor) -> Tensor:
        """The n cross-entropies, (n_future,): head i predicts ``targets`` shifted i more places
        (``targets`` holds the next tokens, as for a plain model; a row's last i are dropped)."""
        z = self.trunk(idx, features=True)
        return torch.stack([self._head_loss(z, i, targets) for i in range(self.n_future)])

    def _head_loss(self, z: Tensor, i: int, targets: Tensor) -> Tensor:
        t = targets.shape[1] - i
        logits = self.logits(z, i)[:, :t]
        return F.cross_entropy(logits.flatten(0, 1), targets[:, i:].flatten())

    def sequential_backward(self, idx: Tensor, targets: Tensor) -> Tensor:
        """Back-propagate the summed loss one head at a time (Sec. 2); returns the n losses.

        Only one head's logits exist at any moment; the gradients equal those of
        ``losses(idx, targets).sum().backward()``.
        """
        z = self.trunk(idx, features=True)
        z_leaf = z.detach().requires_grad_(True)
        out = []
        for i in range(self.n_future):
            loss = self._head_loss(z_leaf, i, targets)
            loss.backward()  # into the head's parameters and z_leaf.grad; this head's graph is freed
            out.append(loss.detach())
        z.backward(z_leaf.grad)
        return torch.stack(out)


@torch.no_grad()
def speculative_greedy(
    model: MultiTokenTransformer, prompt: Tensor, max_new_tokens: int
) -> tuple[Tensor, int]:
    """Greedy decoding with heads 2..n as drafters: (tokens (1, T + max_new_tokens), forward
    passes). Gives exactly the tokens of greedy next-token decoding."""
    if prompt.shape[0] != 1:
        raise ValueError("speculative decoding here takes one sequence at a time")
    block = model.cfg.block_size
    total = prompt.shape[1] + max_new_tokens
    if total > block:
        raise ValueError(f"{total} tokens exceed the model's block_size {block}")
    caches = model.new_caches()
    logits = model.all_logits(prompt, caches)  # (n, 1, T, V)
    passes = 1
    out = prompt[0].tolist()
    guess = logits[:, 0, -1].argmax(-1).tolist()  # next token, then n − 1 drafts
    out.append(guess[0])
    drafts = guess[1:]
    while len(out) < total:
        drafts = drafts[: total - len(out)]
        fed = torch.tensor([[out[-1], *drafts]], device=prompt.device)
        start = caches[0].length
        logits = model.all_logits(fed, caches)  # (n, 1, 1 + len(drafts), V)
        passes += 1
        verify = logits[0, 0].argmax(-1).tolist()  # the next-token head after each fed token
        k = 0
        while k < len(drafts) and drafts[k] == verify[k]:
            k += 1
        out.extend(drafts[:k])
        if len(out) < total:
            out.append(verify[k])  # the next-token head's own token after the accepted drafts
        for cache in caches:  # keep the fed token and the accepted drafts only
            cache.length = start + 1 + k
        drafts = logits[1:, 0, k].argmax(-1).tolist()  # heads 2..n at the last kept position
    return torch.tensor([out[:total]], device=prompt.device), passes


@torch.no_grad()
def greedy(model: MultiTokenTransformer, prompt: Tensor, max_new_tokens: int) -> Tensor:
    """Plain greedy decoding with the next-token head and KV caches: the reference."""
    caches = model.new_caches()
    n_trunk = len(model.trunk.layers)
    trunk_caches, head_cache = caches[:n_trunk], caches[n_trunk]
    logits = model.logits(model.trunk(prompt, features=True, caches=trunk_caches), 0, head_cache)
    out = [prompt]
    for _ in range(max_new_tokens):
        token = logits[:, -1].argmax(-1, keepdim=True)
        out.append(token)
        logits = model.logits(model.trunk(token, features=True, caches=trunk_caches), 0, head_cache)
    return torch.cat(out, dim=1)
