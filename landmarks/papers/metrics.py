"""How language output is scored: BLEU (Papineni, Roukos, Ward, Zhu, 2002), chrF (Popović,
2015), ROUGE (Lin, 2004), WER/CER, and perplexity.

Each metric is written out in ``landmarks.metrics`` and held to the implementation people
report numbers with (sacrebleu, rouge-score, jiwer; the tests). ``landmarks score`` applies them
to your files. ``reproduce`` checks what can be checked against the papers themselves:

1. BLEU's two worked examples (Papineni et al., Sec. 2.1): of two machine translations of one
   Chinese sentence, the adequate one scores higher against three human references; and a
   candidate that repeats "the" seven times gets a *modified* unigram precision of 2/7, because
   a word's count is clipped at the most times any reference uses it.
2. Perplexity over a text longer than the model's context by a sliding window: as the stride
   shrinks, every token gets more context and the perplexity approaches the full-context value
   (a check with no paper behind it, stated as such), on a small character Transformer trained
   here.
3. Scoring speed beside sacrebleu and rouge-score on the same generated files.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from landmarks.data.text import encode_chars, random_windows, text_split
from landmarks.engine import Run, derive_seed, fit
from landmarks.metrics import corpus_bleu, corpus_bleu_tokens, corpus_chrf, rouge
from landmarks.metrics.perplexity import sliding_window_nll
from landmarks.nn.transformer import DecoderOnlyTransformer, TransformerConfig
from landmarks.registry import Card, ClaimSpec

__all__ = ["CARD", "EXAMPLE_1", "EXAMPLE_2", "PRESETS", "Config", "reproduce", "speed_corpus"]

# Papineni et al. (2002), Sec. 2.1, Example 1 and Example 2.
EXAMPLE_1 = {
    "candidates": [
        "It is a guide to action which ensures that the military always obeys the commands of the party.",
        "It is to insure the troops forever hearing the activity guidebook that party direct.",
    ],
    "references": [
        "It is a guide to action that ensures that the military will forever heed Party commands.",
        "It is the guiding principle which guarantees the military forces always being under the command of the Party.",
        "It is the practical guide for the army always to heed the directions of the party.",
    ],
}
EXAMPLE_2 = {
    "candidate": ["the"] * 7,
    "references": [["the", "cat", "is", "on", "the", "mat"], ["there", "is", "a", "cat", "on", "the", "mat"]],
}

CARD = Card(
    citation=(
        "Kishore Papineni, Salim Roukos, Todd Ward, Wei-Jing Zhu. BLEU: a Method for Automatic "
        "Evaluation of Machine Translation. ACL 2002. Maja Popović. chrF: character n-gram F-score "
        "for automatic MT evaluation. WMT 2015. Chin-Yew Lin. ROUGE: A Package for Automatic "
        "Evaluation of Summaries. ACL workshop 2004. Matt Post. A Call for Clarity in Reporting "
        "BLEU Scores. WMT 2018."
    ),
    takeaways=[
        "BLEU: clipped n-gram precisions up to 4-grams, their geometric mean, times a brevity "
        "penalty; a corpus-level score, reported with its tokenizer and settings (Post, 2018).",
        "chrF scores character n-grams, so morphology counts; ROUGE scores recall of n-grams and "
        "of the longest common subsequence, for summaries.",
        "Perplexity over long text needs a sliding window; its stride trades compute for context.",
    ],
    claims=[
        ClaimSpec(
            "BLEU, Example 1: candidate 1 minus candidate 2, against the three references",
            "> 0",
            "Papineni et al. Sec. 2.1: candidate 1 is the better translation and shares more n-grams",
        ),
        ClaimSpec(
            "BLEU, Example 2: modified unigram precision of 'the the the the the the the'",
            "in [0.28571, 0.28572]",
            "Papineni et al. Sec. 2.1, Example 2: 2/7",
        ),
        ClaimSpec(
            "Sliding-window perplexity approaches the full-context value as the stride shrinks "
            "(window 64, strides 63 → 2): steps where the gap does not shrink",
            "<= 0",
            "no paper: a check of the method (Hugging Face's recipe for fixed-length models)",
        ),
    ],
    keeps=[
        "sacrebleu's BLEU (13a tokenizer, exp smoothing) and chrF, rouge-score's ROUGE, jiwer's "
        "WER and CER, each equal to the library (tests)",
        "the paper's own example sentences, verbatim",
    ],
    notes=(
        "Not reproduced in this toy: the small character Transformer gains nothing from context "
        "beyond about 32 characters (on seeds 0-2 its perplexity at stride 1, where every "
        "character sees 63 before it, is no lower than at stride 32), so the sliding-window "
        "estimate does not close in on the full-context value step by step; it wanders, up to "
        "about 0.2 from it. In development, at 400 training steps, the full-context perplexity "
        "was even the highest of all strides. "
        "The method needs a model that uses its whole window; the BLEU examples reproduce."
    ),
    shrinks=[
        "perplexity on a 2-layer, 64-wide character Transformer trained here for 1,200 steps",
        "BERTScore (landmarks.metrics.bertscore: greedy cosine matching, idf weights, baseline "
        "rescaling, over any encoder's token embeddings) is tested on hand-computed cases but not "
        "reproduced here: no pretrained encoder is downloaded",
    ],
    figures={
        "Papineni et al., Sec. 2.1": "Example 1: two candidates, three references; Example 2: 2/7",
    },
)


@dataclass(frozen=True)
class Config:
    window: int = 64
    strides: tuple[int, ...] = (63, 32, 16, 8, 4, 2, 1)  # 63: windows of 64 overlapping by one token
    steps: int = 1200
    batch: int = 32
    eval_chars: int = 20000
    speed_lines: int = 2000

    def validate(self) -> None:
        for name in ("window", "steps", "batch", "eval_chars", "speed_lines"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if 1 not in self.strides or any(not 1 <= s <= self.window for s in self.strides):
            raise ValueError(
                f"strides must lie in 1..window ({self.window}) and include 1 (full context), got {self.strides}"
            )


PRESETS = {
    "default": Config(),
    "quick": Config(window=8, strides=(7, 2, 1), steps=3, batch=4, eval_chars=200, speed_lines=20),
}


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    # 1. BLEU's worked examples.
    refs = [[r] for r in EXAMPLE_1["references"]]
    scores = [corpus_bleu([c], refs).score for c in EXAMPLE_1["candidates"]]
    example2 = corpus_bleu_tokens([EXAMPLE_2["candidate"]], [[r] for r in EXAMPLE_2["references"]])
    unigram_precision = example2.counts[0] / example2.totals[0]
    run.metric("example_1_bleu", {"candidate_1": round(scores[0], 3), "candidate_2": round(scores[1], 3)})
    run.metric("example_2_unigram_precision", unigram_precision)

    # 2. Sliding-window perplexity on a small character Transformer.
    split = text_split(run.data_dir)
    data = encode_chars(split)
    torch.manual_seed(derive_seed(run.seed, run.paper, "init"))
    model = DecoderOnlyTransformer(
        TransformerConfig(vocab_size=len(data.vocab), block_size=cfg.window, n_layer=2, n_head=4, d_model=64)
    ).to(run.device)
    train_ids = data.train.to(run.device)

    def batch_fn(step: int):  # type: ignore[no-untyped-def]
        return random_windows(train_ids, cfg.batch, cfg.window, run.generator("batch", step))

    def loss_fn(net, batch):  # type: ignore[no-untyped-def]
        x, y = batch
        return F.cross_entropy(net(x).flatten(0, 1), y.flatten())

    fit(
        run,
        "char_lm",
        model,
        torch.optim.AdamW(model.parameters(), lr=3e-3),
        steps=cfg.steps,
        batch_fn=batch_fn,
        loss_fn=loss_fn,
    )
    model.eval()
    ids = data.val[: cfg.eval_chars].to(run.device)
    ppl = {}
    for stride in sorted(cfg.strides, reverse=True):
        total, count = sliding_window_nll(model, ids, cfg.window, stride)
        ppl[stride] = float(torch.tensor(total / count).exp())
    gaps = [
        abs(ppl[s] - ppl[1]) for s in sorted(cfg.strides, reverse=True) if s != 1
    ]  # distance to full context
    not_shrinking = sum(b >= a for a, b in itertools.pairwise(gaps))
    run.metric("perplexity_by_stride", {str(s): round(p, 4) for s, p in ppl.items()})

    run.metric("scoring_seconds", _speed(cfg, run, split.val))
    run.check(CARD.claims[0], scores[0] - scores[1])
    run.check(CARD.claims[1], unigram_precision)
    run.check(CARD.claims[2], not_shrinking)
    _plot(run, ppl)


def speed_corpus(text: str, lines: int, seed: int) -> tuple[list[str], list[str]]:
    """Hypothesis and reference lines of 20 words drawn from ``text``, for timing scorers."""
    import numpy as np

    words = text.split()
    rng = np.random.default_rng(derive_seed(seed, "speed"))
    line = lambda: " ".join(words[i] for i in rng.integers(0, len(words), 20))  # noqa: E731
    return [line() for _ in range(lines)], [line() for _ in range(lines)]


def _speed(cfg: Config, run: Run, text: str) -> dict[str, float | None]:
    """Seconds to score the same generated corpus: ours beside sacrebleu and rouge-score."""
    hyps, refs = speed_corpus(text, cfg.speed_lines, run.seed)
    out: dict[str, float | None] = {}

    def clock(fn) -> float:  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        fn()
        return round(time.perf_counter() - began, 4)

    out["bleu_ours"] = clock(lambda: corpus_bleu(hyps, [refs]))
    out["chrf_ours"] = clock(lambda: corpus_chrf(hyps, [refs]))
    out["rouge_ours"] = clock(lambda: [rouge(h, r) for h, r in zip(hyps, refs, strict=True)])
    try:
        import sacrebleu

        out["bleu_sacrebleu"] = clock(lambda: sacrebleu.corpus_bleu(hyps, [refs]))
        out["chrf_sacrebleu"] = clock(lambda: sacrebleu.corpus_chrf(hyps, [refs]))
    except ImportError:
        out["bleu_sacrebleu"] = out["chrf_sacrebleu"] = None
    try:
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"])
        out["rouge_rouge_score"] = clock(
            lambda: [scorer.score(r, h) for h, r in zip(hyps, refs, strict=True)]
        )
    except ImportError:
        out["rouge_rouge_score"] = None
    return out


def _plot(run: Run, ppl: dict[int, float]) -> None:
    from landmarks.plots import plt

    strides = sorted(ppl)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(strides, [ppl[s] for s in strides], "o-")
    ax.axhline(ppl[1], color="grey", ls=":", label="stride 1: full context for every token")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("stride (tokens the window moves)")
    ax.set_ylabel("perplexity (per character)")
    ax.legend(fontsize=8)
    run.save_figure(fig, "perplexity_by_stride", "Sliding-window perplexity against stride")
