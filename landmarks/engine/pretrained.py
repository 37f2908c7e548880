"""The shared pretrained base: one decoder-only character model, trained once and cached.

Papers that study what a trained language model does when it is pruned, probed or turned into
an encoder (``layer-pruning``, ``llm2vec``) start from the same model: ``DecoderOnlyTransformer``
trained to predict the next character of the corpus's training split. ``pretrained_lm`` trains
it the first time a (size, seed, corpus) is asked for and stores its weights in the user's cache
folder (``landmarks.engine.cache``); later runs load them, checked against their checksum and
the settings, the corpus and the code they were trained under (the fingerprint of this module and
everything it imports, ``landmarks.provenance.code_fingerprint``: an edit to the model, the
training loop or the data code trains the base again instead of loading weights an older version
made), and a damaged or mismatched entry is trained again with a message. ``--set
cache_base=false`` trains without the cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.data.text import CharVocab, EncodedText, random_windows
from landmarks.engine.cache import cached_state
from landmarks.engine.run import Run
from landmarks.engine.seeding import torch_generator
from landmarks.engine.train import fit, warmup_cosine
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig
from landmarks.provenance import code_fingerprint

__all__ = ["BaseFields", "BaseSpec", "pretrained_lm"]


@dataclass(frozen=True)
class BaseSpec:
    """The base model and how it is trained."""

    n_layer: int = 12
    d_model: int = 64
    n_head: int = 4
    context: int = 128
    steps: int = 1200
    batch: int = 16
    lr: float = 3e-3

    def validate(self) -> None:
        for name in ("n_layer", "d_model", "n_head", "context", "batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"base {name} must be >= 1, got {getattr(self, name)}")
        if self.steps < 0:
            raise ValueError(f"base steps must be >= 0, got {self.steps}")
        if not self.lr > 0:
            raise ValueError(f"base lr must be > 0, got {self.lr}")

    def model_config(self, vocab_size: int) -> TransformerConfig:
        return TransformerConfig(
            vocab_size=vocab_size,
            block_size=self.context,
            n_layer=self.n_layer,
            n_head=self.n_head,
            d_model=self.d_model,
        )


@dataclass(frozen=True)
class BaseFields:
    """The base's settings as a paper's ``Config`` holds them (``--set base_layers=16``); papers
    with the same values share one cached model."""

    base_layers: int = 12
    base_width: int = 64
    base_heads: int = 4
    context: int = 128
    base_steps: int = 1200
    base_batch: int = 16
    base_lr: float = 3e-3
    cache_base: bool = True

    def base(self) -> BaseSpec:
        return BaseSpec(
            self.base_layers,
            self.base_width,
            self.base_heads,
            self.context,
            self.base_steps,
            self.base_batch,
            self.base_lr,
        )


def _corpus_digest(data: EncodedText[CharVocab]) -> str:
    h = hashlib.sha256(data.vocab.chars.encode())
    h.update(data.train.numpy().tobytes())
    return h.hexdigest()[:16]


def pretrained_lm(
    run: Run, spec: BaseSpec, data: EncodedText[CharVocab], *, cache: bool = True
) -> DecoderOnlyTransformer:
    """The base of ``spec`` trained on ``data.train`` with ``run.seed``, from the cache if it is there;
    the same weights whichever paper asks for it (a test checks it)."""
    spec.validate()
    torch.manual_seed(run.seed)
    model = DecoderOnlyTransformer(spec.model_config(len(data.vocab))).to(run.device)
    train_ids = data.train.to(run.device)

    def train() -> dict[str, Tensor]:
        optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, betas=(0.9, 0.95), weight_decay=0.1)

        def batch_fn(step: int) -> tuple[Tensor, Tensor]:
            # keyed by the seed alone, not by the paper (``run.generator`` is): the cache holds
            # one base for every paper, so the paper that trains it first must not shape it
            return random_windows(
                train_ids, spec.batch, spec.context, torch_generator(run.seed, "char-lm-base", step)
            )

        def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
            x, y = batch
            return F.cross_entropy(net(x).flatten(0, 1), y.flatten())

        if spec.steps:
            history = fit(
                run,
                "base",
                model,
                optimizer,
                steps=spec.steps,
                batch_fn=batch_fn,
                loss_fn=loss_fn,
                scheduler=warmup_cosine(optimizer, max(1, spec.steps // 20), spec.steps, floor=0.1),
                clip_norm=1.0,
            )
            run.metric("base_seconds", round(history.seconds, 2))
        return model.state_dict()

    key = {
        "spec": asdict(spec),
        "seed": run.seed,
        "corpus": _corpus_digest(data),
        "code": code_fingerprint(__name__),  # the code that trains it, as well as its settings
        "version": 1,
    }
    state, cached = cached_state(run.log, "char-lm-base", key, train, enabled=cache)
    model.load_state_dict(state)
    run.metric("base_from_cache", cached)
    return model.eval()
