"""Block sliding-window attention and TransformerFAM's feedback attention memory (Hwang, Wang,
Huo, Sim, Moreno Mengibar, 2024, "TransformerFAM: Feedback attention is working memory").

**Block sliding-window attention (BSWA)** cuts the sequence into blocks of ``block`` tokens; a
token attends, causally, the tokens of its own block and every token of the ``memory`` blocks
before it, and nothing further back. Each layer's cost and state are bounded, and so is what the
stack can remember: each layer reaches ``memory`` blocks further back than the one below, a
receptive field of about depth × window tokens (``reach``).

**Feedback attention memory (FAM)** adds F memory tokens to every block, at every layer (Fig. 2). In block τ:

- the block's tokens attend the memory blocks, their own block (causally) and FAM_{τ−1};
- the FAM tokens attend the block and FAM_{τ−1} itself: FAM_τ, a compressed update of the
  memory, which goes through the layer's feed-forward network like any token;
- FAM_τ, the layer's *output*, is the same layer's FAM *input* for block τ + 1: feedback, a
  working memory carried from block to block, of fixed size whatever the length.

The layers are the shared ``TransformerLayer`` (pre-LN), reading keys and values from the
memory blocks, the block and FAM together (``kv=``). Positions are learned within a block
(what BSWA needs), so nothing limits the length. Each layer starts from its own learned FAM.
``step`` decodes one token at a time with a state of fixed size (the last block's layer
inputs, the current block's, and FAM) and gives the whole-sequence forward's logits (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.nn.griffin import state_bytes  # the bytes a decoder carries between tokens
from landmarks.nn.transformer import TransformerConfig

__all__ = ["FAMConfig", "FAMTransformer", "block_mask", "state_bytes"]


@dataclass(frozen=True)
class FAMConfig:
    vocab_size: int
    block: int = 16
    memory: int = 1  # BSWA's memory segment: how many earlier blocks each block attends
    fam_tokens: int = 8  # 0: BSWA alone
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64

    def validate(self) -> None:
        for name in ("vocab_size", "block", "n_layer", "n_head", "d_model"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.memory < 0 or self.fam_tokens < 0:
            raise ValueError(f"memory and fam_tokens must be >= 0, got {self.memory}, {self.fam_tokens}")
        TransformerConfig(self.vocab_size, self.block, self.n_layer, self.n_head, self.d_model).validate()

    @property
    def window(self) -> int:
        """What one layer of BSWA reads: a token's block and the memory blocks."""
        return (self.memory + 1) * self.block

    @property
    def reach(self) -> int:
        """The furthest back BSWA alone can carry anything: each layer reaches ``memory`` blocks
        further than the one below (a receptive field of depth × window), plus the block itself."""
        return (self.n_layer * self.memory + 1) * self.block


def block_mask(block: int, fam: int, memory: int, device: torch.device | None = None) -> Tensor:
    """(block + fam, memory + block + fam) bool, True where attention is *not* allowed.
    Rows: the block's tokens, then FAM's; columns: the memory blocks, the block, FAM_{τ−1}."""
    allowed = torch.zeros(block + fam, memory + block + fam, dtype=torch.bool, device=device)
    allowed[:block, :memory] = True  # the block reads the memory blocks
    allowed[:block, memory : memory + block] = torch.ones(
        block, block, dtype=torch.bool, device=device
    ).tril()
    allowed[:block, memory + block :] = True  # and the previous FAM
    allowed[block:, memory:] = True  # FAM reads the whole block and itself, not the memory blocks
    return ~allowed


class FAMTransformer(nn.Module):
    def __init__(self, cfg: FAMConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        base = TransformerConfig(cfg.vocab_size, cfg.block, cfg.n_layer, cfg.n_head, cfg.d_model, dropout=0.0)
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.block, cfg.d_model)  # position within the block
        self.layers = nn.ModuleList(base.layer() for _ in range(cfg.n_layer))
        self.fam_init = nn.Parameter(torch.randn(cfg.n_layer, cfg.fam_tokens, cfg.d_model) * 0.02)
        self.norm_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
        self.lm_head.weight = self.tok_emb.weight

    def embed(self, idx: Tensor, start: int = 0) -> Tensor:
        pos = torch.arange(start, start + idx.shape[1], device=idx.device) % self.cfg.block
        return self.tok_emb(idx) + self.pos_emb(pos)

    def block_step(self, i: int, xb: Tensor, fam: Tensor, mem: Tensor) -> tuple[Tensor, Tensor]:
        """Layer i on one block: xb (B, b, d), FAM_{τ−1} (B, F, d), the memory blocks' inputs
        (B, m, d) → the block's outputs and FAM_τ."""
        b, f, m = xb.shape[1], fam.shape[1], mem.shape[1]
        queries = torch.cat([xb, fam], dim=1)  # (B, b + F, d)
        mask = block_mask(b, f, m, xb.device)
        out = self.layers[i](queries, attn_mask=mask, kv=torch.cat([mem, xb, fam], dim=1))
        return out[:, :b], out[:, b:]

    def forward(self, idx: Tensor) -> Tensor:
        """Logits (B, T, V); the blocks in order, each layer carrying its FAM from block to block."""
        cfg = self.cfg
        x = self.embed(idx)
        bsz = x.shape[0]
        for i in range(cfg.n_layer):
            fam = self.fam_init[i].expand(bsz, -1, -1)
            outs: list[Tensor] = []
            for start in range(0, x.shape[1], cfg.block):
                xb = x[:, start : start + cfg.block]
                mem = x[:, max(0, start - cfg.memory * cfg.block) : start]  # this layer's inputs
                yb, fam = self.block_step(i, xb, fam, mem)
                outs.append(yb)
            x = torch.cat(outs, dim=1)
        return self.lm_head(self.norm_f(x))

    # ---- decoding a token at a time, with a state of fixed size ----

    def init_state(self, batch: int) -> list[dict]:
        d, dev = self.cfg.d_model, self.fam_init.device
        return [
            {
                "fam": self.fam_init[i].expand(batch, -1, -1),
                "mem": torch.zeros(batch, 0, d, device=dev),
                "cur": torch.zeros(batch, 0, d, device=dev),
                "t": 0,
            }
            for i in range(self.cfg.n_layer)
        ]

    def step(self, token: Tensor, states: list[dict]) -> Tensor:
        """Logits (B, V) after ``token`` (B,); at the end of a block, FAM is updated and the
        block becomes the memory."""
        cfg = self.cfg
        t = states[0]["t"]
        x = self.embed(token[:, None], t)  # (B, 1, d)
        for i, layer in enumerate(self.layers):
            s = states[i]
            cur = torch.cat([s["cur"], x], dim=1)  # this layer's inputs in the block so far
            out = layer(x, kv=torch.cat([s["mem"], cur, s["fam"]], dim=1))  # all of it is allowed
            s["cur"], s["t"] = cur, t + 1
            if cur.shape[1] == cfg.block:  # the block is complete: FAM reads it, it becomes memory
                b, f = cur.shape[1], s["fam"].shape[1]
                mask = block_mask(b, f, 0, cur.device)[b:]
                s["fam"] = layer(s["fam"], attn_mask=mask, kv=torch.cat([cur, s["fam"]], dim=1))
                s["mem"] = (
                    torch.cat([s["mem"], cur], dim=1)[:, -cfg.memory * cfg.block :]
                    if cfg.memory
                    else cur[:, :0]
                )
                s["cur"] = cur[:, :0]
            x = out
        return self.lm_head(self.norm_f(x))[:, 0]

    def loss(self, idx: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(self(idx).flatten(0, 1), targets.flatten(), ignore_index=-100)
