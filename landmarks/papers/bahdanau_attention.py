"""Neural Machine Translation by Jointly Learning to Align and Translate (Bahdanau, Cho, Bengio, 2015).

An encoder–decoder that squeezes a whole sentence into one fixed-length vector (RNNencdec, Cho
et al. 2014) must remember everything at once, and its translations get worse as sentences get
longer (Fig. 2). RNNsearch lets the decoder look back: each source word keeps its own
annotation h_j (a bidirectional RNN's states, Sec. 3.2), and at every output step the decoder
computes a soft alignment α_ij over them (Sec. 3.1) and reads their weighted mean c_i. Long
sentences stop hurting, and α recovers the word alignment, reorderings included (Fig. 3).

This module, in the paper's order:

1. ``Encoder``: a bidirectional GRU; h_j = [h→_j ; h←_j] (Sec. 3.2).
2. ``AttentionDecoder`` (RNNsearch): additive attention e_ij = v_a^T tanh(W_a s_{i−1} + U_a h_j)
   (``landmarks.nn.attention.AdditiveAttention``), c_i = Σ_j α_ij h_j, a GRU state update
   s_i = f(s_{i−1}, y_{i−1}, c_i), and a maxout read-out (Appendix A.2.2).
3. ``FixedVectorDecoder`` (RNNencdec): the same decoder, given one vector c for the whole sentence.
4. Decoding with the shared greedy and beam search of ``landmarks.nn.decoding``.
5. ``reproduce``: both models trained alike on the toy translation task of
   ``landmarks.data.translation`` (a lexicon plus local reordering, so the true alignment is
   known), BLEU by sentence length, and how often the attention's argmax hits the aligned word.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.data.synthetic import eval_set
from landmarks.data.translation import BOS, EOS, PAD, TranslationBatch, TranslationTask
from landmarks.engine import Run, fit, warmup_cosine
from landmarks.metrics import corpus_bleu_tokens
from landmarks.nn.attention import AdditiveAttention
from landmarks.nn.decoding import search, token_lists
from landmarks.nn.recurrent import GRU, GRUCell
from landmarks.registry import Card, ClaimSpec

CARD = Card(
    citation=(
        "Dzmitry Bahdanau, Kyunghyun Cho, Yoshua Bengio. Neural Machine Translation by Jointly "
        "Learning to Align and Translate. ICLR 2015. arXiv:1409.0473."
    ),
    takeaways=[
        "A fixed-length vector is a bottleneck: the basic encoder–decoder's BLEU falls as "
        "sentences grow longer (Fig. 2).",
        "Attention: the decoder scores every source annotation against its state, "
        "e_ij = v_a^T tanh(W_a s_{i−1} + U_a h_j), and reads their softmax-weighted mean, so "
        "nothing has to be remembered in one vector.",
        "The attention weights are a soft alignment learned without any alignment supervision; "
        "they follow reorderings such as adjective–noun inversion (Fig. 3).",
        "A bidirectional encoder gives each annotation both the words before and after it.",
    ],
    claims=[
        ClaimSpec(
            "RNNencdec degrades with length: BLEU on the shortest sentences minus BLEU on the "
            "longest (source-length buckets)",
            ">= 10",
            "Fig. 2: RNNencdec-50 falls from about 20 to below 10 BLEU as sentences pass 30 words",
        ),
        ClaimSpec(
            "RNNsearch does not: its BLEU on the shortest sentences minus BLEU on the longest",
            "<= 5",
            "Fig. 2: RNNsearch-50 stays near 27 BLEU up to 60 words",
        ),
        ClaimSpec(
            "on the longest sentences, RNNsearch BLEU minus RNNencdec BLEU",
            ">= 20",
            "Fig. 2, 50–60 words: RNNsearch-50 about 25 vs RNNencdec-50 about 7 BLEU",
        ),
        ClaimSpec(
            "the attention's argmax falls on the aligned source word (share of target words, "
            "held-out sentences, reference prefix fed)",
            ">= 0.9",
            "Fig. 3: alignments largely monotonic, with local inversions (e.g. 'zone économique "
            "européenne') found correctly",
        ),
    ],
    keeps=[
        "RNNsearch exactly: bidirectional GRU encoder, annotations [h→_j ; h←_j], additive "
        "attention, GRU decoder fed [E y_{i−1} ; c_i], s_0 = tanh(W_s h←_1), maxout read-out",
        "RNNencdec with the same decoder size and read-out, but one vector c for the whole "
        "sentence, fed at every step (Cho et al. 2014); here c = [h→_T ; h←_1] of the same "
        "bidirectional encoder, where Cho et al.'s encoder reads one way",
        "both trained alike (data, steps, batch, optimizer) on sentences of up to 50 words, as "
        "the paper's -50 models were; BLEU bucketed by source length as in Fig. 2",
    ],
    shrinks=[
        "a generated language (48 words, a fixed lexicon, modifiers moved after their noun) "
        "instead of English–French: no ambiguity, one target word per source word",
        "embeddings of 64, encoder GRUs of 64 per direction, decoder GRU of 128 (paper: 620, "
        "1000, 1000), 1 500 Adam steps of 64 sentences (sorted into minibatches of similar "
        "length) instead of five days of Adadelta",
        "greedy decoding for the claims (the paper used a beam); beam search BLEU is reported too",
    ],
    figures={
        "RNNsearch-50 BLEU, all sentences / no unknown words (Table 1)": "26.75 / 34.16",
        "RNNencdec-50 BLEU, all sentences / no unknown words (Table 1)": "17.82 / 26.71",
    },
    notes=(
        "The thresholds on the length buckets read the shape of Fig. 2: a drop of 10 BLEU or more "
        "for RNNencdec between the shortest and the longest sentences, at most 5 for RNNsearch, and "
        "a gap of at least 20 on the longest. Alignment accuracy is measured as an alignment error "
        "rate would be: the decoder is fed the reference prefix and each target word's attention "
        "argmax is compared with the source position it translates (the generator knows it). "
        "The metric alignment_offsets says where the argmax falls instead when it misses: an "
        "annotation h_j = [h→_j ; h←_j] also carries its neighbours' words (h←_{j−1} has read "
        "x_j), so a decoder can translate word j while looking at j − 1 or j + 1, and a small "
        "model trained only for the translation has no reason to prefer the exact word. At this "
        "size the measured alignment is well below the paper's crisp Fig. 3, while the "
        "translations are nearly perfect: the claim is reported as measured."
    ),
)


# ---- 1. the encoder -----------------------------------------------------------------------------


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of x (B, T, ...) within its own length; padding stays at the end."""
    t = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, T)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))


class Encoder(nn.Module):
    """Bidirectional GRU: annotations h_j = [h→_j ; h←_j] (B, S, 2H) (Sec. 3.2)."""

    def __init__(self, vocab: int, embed: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.forward_rnn = GRU(embed, hidden, batch_first=True)  # reads x_1 .. x_T
        self.backward_rnn = GRU(embed, hidden, batch_first=True)  # reads x_T .. x_1

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        """Annotations (B, S, 2H) and the fixed-length summary [h→_T ; h←_1] (B, 2H)."""
        x = self.embed(src)  # (B, S, E)
        fwd, _ = self.forward_rnn(x)  # (B, S, H); states past a sentence's end are never read
        bwd, _ = self.backward_rnn(reverse_padded(x, src_len))
        bwd = reverse_padded(bwd, src_len)  # h←_j back at position j
        last = (src_len - 1)[:, None, None].expand(-1, 1, fwd.shape[-1])
        summary = torch.cat([fwd.gather(1, last).squeeze(1), bwd[:, 0]], dim=-1)  # [h→_T ; h←_1]
        return torch.cat([fwd, bwd], dim=-1), summary


# ---- 2–3. the decoders --------------------------------------------------------------------------


class Maxout(nn.Module):
    """t_i = max_j t̃_{i,2j−1..2j}: a linear layer of 2·out units, max over pairs (Appendix A.2.2)."""

    def __init__(self, inputs: int, out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(inputs, 2 * out)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).unflatten(-1, (-1, 2)).amax(-1)


class Decoder(nn.Module):
    """A GRU decoder; with ``attention`` it is RNNsearch's, without it RNNencdec's.

    Both take [E y_{i−1} ; c_i] as the GRU input and read out p(y_i | y_<i, x) = g(y_{i−1}, s_i, c_i)
    (Eq. 4). RNNsearch's c_i is a fresh attention read of the annotations at every step (Eq. 5);
    RNNencdec's is the same summary vector at every step.
    """

    def __init__(
        self, vocab: int, embed: int, context: int, hidden: int, attention: bool, align: int
    ) -> None:
        super().__init__()
        self.attention = AdditiveAttention(hidden, context, align) if attention else None
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.init = nn.Linear(context // 2 if attention else context, hidden)  # W_s
        self.cell = GRUCell(embed + context, hidden)
        self.readout = Maxout(hidden + embed + context, embed)  # t_i from s_i, E y_{i−1}, c_i
        self.output = nn.Linear(embed, vocab)  # W_o t_i

    def start(self, annotations: Tensor, summary: Tensor) -> Tensor:
        """s_0 = tanh(W_s h←_1) for RNNsearch (Appendix A.2.2); tanh(W_s c) for RNNencdec."""
        if self.attention is not None:
            backward_first = annotations[:, 0, annotations.shape[-1] // 2 :]  # h←_1 (B, H)
            return torch.tanh(self.init(backward_first))
        return torch.tanh(self.init(summary))

    def advance(
        self, e: Tensor, s: Tensor, memory: tuple[Tensor, Tensor, Tensor, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The recurrence of one output step, given E y_{i−1} (B, E): (s_i, c_i, α_i or None)."""
        annotations, projected, mask, summary = memory
        if self.attention is not None:
            c, alpha = self.attention(s, annotations, mask, projected_keys=projected)  # Eqs. 5–6
        else:
            c, alpha = summary, None
        s = self.cell(torch.cat([e, c], dim=-1), s)  # s_i = f(s_{i−1}, y_{i−1}, c_i)
        return s, c, alpha

    def read_out(self, s: Tensor, e: Tensor, c: Tensor) -> Tensor:
        """Logits of p(y_i | y_<i, x) = g(y_{i−1}, s_i, c_i), for any leading shape."""
        return self.output(self.readout(torch.cat([s, e, c], dim=-1)))

    def step(
        self, y_prev: Tensor, s: Tensor, memory: tuple[Tensor, Tensor, Tensor, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """One output step: (logits (B, V), s_i (B, H), α_i (B, S) or None)."""
        e = self.embed(y_prev)  # (B, E): E y_{i−1}
        s, c, alpha = self.advance(e, s, memory)
        return self.read_out(s, e, c), s, alpha


class Translator(nn.Module):
    """Encoder + decoder; ``attention=True`` is RNNsearch, ``False`` RNNencdec."""

    def __init__(self, vocab: int, embed: int, hidden: int, attention: bool, align: int) -> None:
        super().__init__()
        self.encoder = Encoder(vocab, embed, hidden)
        self.decoder = Decoder(vocab, embed, 2 * hidden, 2 * hidden, attention, align)

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
        """The decoder's initial state and its fixed memory (annotations, U_a h_j, mask, summary)."""
        annotations, summary = self.encoder(src, src_len)
        mask = torch.arange(src.shape[1], device=src.device)[None, :] < src_len[:, None]  # (B, S)
        att = self.decoder.attention
        projected = att.project_keys(annotations) if att is not None else annotations[..., :0]
        return self.decoder.start(annotations, summary), (annotations, projected, mask, summary)

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing: logits (B, T, V) for the next word after each of tgt_in (B, T), and
        the attention (B, T, S) (None for RNNencdec)."""
        s, memory = self.encode(src, src_len)
        e = self.decoder.embed(tgt_in)  # (B, T, E): every E y_{i−1} at once
        states, contexts, alphas = [], [], []
        # the recurrence is sequential; the read-out is not. unbind, not e[:, i]: its backward
        # stacks the gradients once, where indexing would fill a zero tensor of all of e per step
        for e_i in e.unbind(1):
            s, c, alpha = self.decoder.advance(e_i, s, memory)
            states.append(s)
            contexts.append(c)
            alphas.append(alpha)
        logits = self.decoder.read_out(torch.stack(states, 1), e, torch.stack(contexts, 1))  # (B, T, V)
        attention = torch.stack(alphas, 1) if alphas[0] is not None else None
        return logits, attention

    def step_fn(self):  # type: ignore[no-untyped-def]
        """The step function ``landmarks.nn.decoding`` searches with: state = (s, memory)."""

        def step(tokens: Tensor, state: tuple) -> tuple[Tensor, tuple]:
            s, memory = state
            logits, s, _ = self.decoder.step(tokens, s, memory)
            return torch.log_softmax(logits.float(), -1), (s, memory)

        return step

    @torch.no_grad()
    def translate(self, src: Tensor, src_len: Tensor, beam: int = 1, max_extra: int = 5) -> list[list[int]]:
        """Greedy (beam 1) or beam-search translations, each a list of target ids without BOS/EOS."""
        s, memory = self.encode(src, src_len)
        max_len = int(src_len.max()) + max_extra
        tokens, lengths = search(
            self.step_fn(),
            (s, memory),
            src.shape[0],
            bos=BOS,
            eos=EOS,
            max_len=max_len,
            beam=beam,
            device=src.device,
        )
        return token_lists(tokens, lengths, EOS)


# ---- 5. the experiment --------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    vocab: int = 48  # source words (as many target words)
    min_len: int = 5
    max_len: int = 50
    embed: int = 64
    hidden: int = 64  # per encoder direction; the decoder has 2 × hidden
    align: int = 64  # the attention's hidden size (n' in Appendix A.1.2)
    batch: int = 64
    steps: int = 1500
    lr: float = 3e-3  # Adam, warmed up over ``warmup`` steps, then cosine decay to lr / 10
    warmup: int = 50
    clip_norm: float = 1.0
    test_size: int = 1000
    buckets: int = 5  # source-length buckets for BLEU
    beam: int = 4  # beam width for the beam-search BLEU reported beside greedy
    beam_sentences: int = 200

    def validate(self) -> None:
        for name in (
            "vocab",
            "embed",
            "hidden",
            "align",
            "batch",
            "steps",
            "test_size",
            "buckets",
            "beam_sentences",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.warmup < self.steps:
            raise ValueError(f"warmup must be in [0, steps), got {self.warmup} for {self.steps} steps")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got {self.min_len} and {self.max_len}")
        if self.beam < 1:
            raise ValueError(f"beam must be >= 1 (1 is greedy decoding), got {self.beam}")
        if self.vocab < 2:
            raise ValueError(f"vocab must be >= 2 (nouns and modifiers), got {self.vocab}")
        if not self.lr > 0 or not self.clip_norm > 0:
            raise ValueError(f"lr and clip_norm must be > 0, got {self.lr} and {self.clip_norm}")
        if self.buckets > self.max_len - self.min_len + 1:
            raise ValueError(f"buckets ({self.buckets}) cannot exceed the number of sentence lengths")


PRESETS = {
    "default": Config(),
    "quick": Config(
        max_len=12,
        embed=16,
        hidden=16,
        align=16,
        batch=16,
        steps=15,
        warmup=3,
        test_size=64,
        buckets=2,
        beam_sentences=8,
    ),
}

MODELS = {"rnnsearch": True, "rnnencdec": False}
LABELS = {"rnnsearch": "RNNsearch", "rnnencdec": "RNNencdec"}


def translation_loss(model: nn.Module, batch: TranslationBatch) -> Tensor:
    """Cross-entropy of every target word and EOS, teacher-forced, padding ignored."""
    logits, _ = model(batch.src, batch.src_len, batch.tgt[:, :-1])
    return F.cross_entropy(logits.flatten(0, 1), batch.tgt[:, 1:].flatten(), ignore_index=PAD)


def train_translator(run: Run, name: str, cfg: Config, task: TranslationTask) -> tuple[Translator, float]:
    """Build and train one model; returns it and its training seconds. Shared with ``transformer``."""
    torch.manual_seed(run.seed)
    model = Translator(task.vocab_size, cfg.embed, cfg.hidden, MODELS[name], cfg.align).to(run.device)
    draw = task.sorted_batches(run.seed, cfg.batch)  # minibatches of similar lengths (Sec. 4.2)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = warmup_cosine(optimizer, warmup=cfg.warmup, total=cfg.steps, floor=0.1)
    history = fit(
        run,
        name,
        model,
        optimizer,
        steps=cfg.steps,
        batch_fn=lambda step: draw(step).to(run.device),
        loss_fn=translation_loss,
        scheduler=schedule,
        clip_norm=cfg.clip_norm,
    )
    model.eval()
    return model, history.seconds


def length_buckets(lengths: Tensor, min_len: int, max_len: int, n: int) -> list[tuple[int, int]]:
    """``n`` contiguous ranges of source length covering [min_len, max_len], as equal as possible."""
    edges = torch.linspace(min_len, max_len + 1, n + 1).round().long().tolist()
    return [(edges[i], edges[i + 1] - 1) for i in range(n)]


def bleu_by_bucket(
    hyps: list[list[int]], refs: list[list[int]], lengths: list[int], buckets: list[tuple[int, int]]
) -> list[float]:
    out = []
    for lo, hi in buckets:
        idx = [i for i, n in enumerate(lengths) if lo <= n <= hi]
        out.append(
            corpus_bleu_tokens([hyps[i] for i in idx], [[refs[i] for i in idx]]).score
            if idx
            else float("nan")
        )
    return out


@torch.no_grad()
def alignment_accuracy(model: Translator, test: TranslationBatch) -> tuple[float, Tensor]:
    """Share of target words (EOS excluded) whose attention argmax is their aligned source word,
    with the reference prefix fed; and the attention (B, T, S)."""
    _, attention = model(test.src, test.src_len, test.tgt[:, :-1])
    assert attention is not None
    offsets = alignment_offsets(attention, test)
    return float((offsets == 0).float().mean()), attention


def alignment_offsets(attention: Tensor, test: TranslationBatch) -> Tensor:
    """For every target word (EOS excluded), the attention's argmax minus the aligned source
    position: 0 is a hit, −1 one word early."""
    words = test.align.shape[1]
    predicted = attention[:, :words].argmax(-1)  # (B, S): the attention's argmax for each target word
    valid = test.align >= 0
    return (predicted - test.align)[valid]


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    task = TranslationTask(vocab=cfg.vocab, min_len=cfg.min_len, max_len=cfg.max_len)
    test = eval_set(task, run.seed, cfg.test_size).to(run.device)
    src_lengths = test.src_len.tolist()
    refs = [row[1 : n - 1] for row, n in zip(test.tgt.tolist(), test.tgt_len.tolist())]
    buckets = length_buckets(test.src_len, cfg.min_len, cfg.max_len, cfg.buckets)

    bleu, bucket_bleu, seconds, beam_bleu, models = {}, {}, {}, {}, {}
    for name in MODELS:
        model, seconds[name] = train_translator(run, name, cfg, task)
        models[name] = model
        began = time.perf_counter()
        hyps = model.translate(test.src, test.src_len)
        bleu[name] = corpus_bleu_tokens(hyps, [refs]).score
        bucket_bleu[name] = bleu_by_bucket(hyps, refs, src_lengths, buckets)
        k = cfg.beam_sentences
        beamed = model.translate(test.src[:k], test.src_len[:k], beam=cfg.beam)
        beam_bleu[name] = corpus_bleu_tokens(beamed, [refs[:k]]).score
        run.log(
            f"{LABELS[name]}: BLEU {bleu[name]:.1f} (greedy), by length {[round(b, 1) for b in bucket_bleu[name]]}, "
            f"beam {cfg.beam} on {k}: {beam_bleu[name]:.1f}; decoding {time.perf_counter() - began:.1f} s"
        )
    accuracy, attention = alignment_accuracy(models["rnnsearch"], test)

    run.metric("bleu_greedy", bleu)
    run.metric(f"bleu_beam{cfg.beam}_first_{cfg.beam_sentences}", beam_bleu)
    run.metric("buckets", [f"{lo}-{hi}" for lo, hi in buckets])
    run.metric("bleu_by_bucket", bucket_bleu)
    run.metric("train_seconds", {k: round(v, 2) for k, v in seconds.items()})
    run.metric("alignment_accuracy", accuracy)
    offsets = alignment_offsets(attention, test)
    run.metric(
        "alignment_offsets",  # where the attention's argmax falls, relative to the aligned word
        {str(k): float((offsets == k).float().mean()) for k in (-2, -1, 0, 1, 2)},
    )
    run.metric("parameters", {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()})

    drop = {name: b[0] - b[-1] for name, b in bucket_bleu.items()}
    run.check(CARD.claims[0], drop["rnnencdec"])
    run.check(CARD.claims[1], drop["rnnsearch"])
    run.check(CARD.claims[2], bucket_bleu["rnnsearch"][-1] - bucket_bleu["rnnencdec"][-1])
    run.check(CARD.claims[3], accuracy)

    _plot_bleu_by_length(run, buckets, bucket_bleu)
    _plot_alignment(run, task, test, attention)


# ---- figures ------------------------------------------------------------------------------------


def _plot_bleu_by_length(
    run: Run, buckets: list[tuple[int, int]], bucket_bleu: dict[str, list[float]]
) -> None:
    from landmarks.plots import plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    centers = [(lo + hi) / 2 for lo, hi in buckets]
    for name, style in (("rnnsearch", "o-"), ("rnnencdec", "s--")):
        ax.plot(centers, bucket_bleu[name], style, label=LABELS[name])
    ax.set(
        xlabel="source sentence length (words)",
        ylabel="BLEU (greedy)",
        title="BLEU by sentence length (cf. Fig. 2)",
        ylim=(0, 105),
    )
    ax.set_xticks(centers, [f"{lo}–{hi}" for lo, hi in buckets])
    ax.legend()
    run.save_figure(
        fig,
        "bleu_by_length",
        "Held-out BLEU by source length: the fixed-vector model degrades, attention does not.",
    )


def _plot_alignment(run: Run, task: TranslationTask, test: TranslationBatch, attention: Tensor) -> None:
    from landmarks.plots import plt

    lengths = test.src_len.tolist()
    # A sentence of about 20 words with a reordering, so the matrix is readable and not trivial.
    pick = min(range(len(lengths)), key=lambda i: (abs(lengths[i] - 20), i))
    n = lengths[pick]
    alpha = attention[pick, :n, :n].cpu()  # (target word, source word)
    src_words = [task.word(i) for i in test.src[pick, :n].tolist()]
    tgt_words = [task.word(i) for i in test.tgt[pick, 1 : n + 1].tolist()]
    fig, ax = plt.subplots(figsize=(6.4, 6.0))
    ax.imshow(alpha.numpy(), cmap="gray_r", vmin=0, vmax=1)
    truth = test.align[pick, :n].cpu()
    ax.scatter(
        truth.numpy(), range(n), s=12, facecolors="none", edgecolors="tab:red", lw=0.8, label="true alignment"
    )
    ax.set_xticks(range(n), src_words, rotation=90, fontsize=7)
    ax.set_yticks(range(n), tgt_words, fontsize=7)
    ax.set(xlabel="source", ylabel="target", title="RNNsearch attention α_ij (cf. Fig. 3)")
    ax.grid(False)
    ax.legend(loc="upper right", fontsize=7)
    run.save_figure(
        fig,
        "alignment",
        "Attention weights of one held-out sentence (dark = high); red circles: the true alignment, reorderings included.",
    )
