"""transformer: the encoder–decoder loads torch.nn.Transformer's weights and gives its numbers,
padding cannot leak, the cached decoder equals recomputation, beam 1 is greedy, label smoothing
equals torch's, the schedule is Eq. 3, Table 3's counts, and bad settings exit 2."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landmarks.cli import main
from landmarks.data.synthetic import eval_set
from landmarks.data.translation import BOS, EOS, TranslationTask
from landmarks.nn.decoding import beam_search
from landmarks.papers import transformer as tr

TASK = TranslationTask(vocab=8, min_len=2, max_len=7)


def _model(norm_first: bool = False, share: bool = True) -> tr.Transformer:
    torch.manual_seed(0)
    cfg = tr.ModelConfig(
        vocab_size=TASK.vocab_size, d_model=16, n_head=4, d_ff=32, n_layer=2, dropout=0.0,
        norm_first=norm_first, share_embeddings=share, max_len=32,
    )  # fmt: skip
    return tr.Transformer(cfg).double().eval()


@pytest.mark.parametrize("norm_first", [False, True])
# torch's own encoder says, for pre-LN, that it will not use its nested-tensor fast path: the
# reference's business, not ours (nn.Transformer gives no way to turn it off)
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_layers_equal_torch_nn_transformer(norm_first: bool) -> None:
    """Our encoder and decoder stacks with torch.nn.Transformer's weights give its outputs."""
    model = _model(norm_first)
    ref = nn.Transformer(
        d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32,
        dropout=0.0, batch_first=True, norm_first=norm_first,
    ).double().eval()  # fmt: skip
    for ours, theirs in ((model.encoder, ref.encoder.layers), (model.decoder, ref.decoder.layers)):
        for a, b in zip(ours, theirs):
            a.load_state_dict(b.state_dict())
    if norm_first:  # pre-LN ends each stack with a norm, as torch does
        model.encoder_norm.load_state_dict(ref.encoder.norm.state_dict())
        model.decoder_norm.load_state_dict(ref.decoder.norm.state_dict())
    b = eval_set(TASK, 0, 5)
    src_pad = tr.padding_mask(b.src_len, b.src.shape[1])
    x = model._inputs(model.src_embed, b.src)
    y = model._inputs(model.embed, b.tgt[:, :-1])
    T = y.shape[1]
    expected = ref(
        x, y, tgt_mask=nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64),
        src_key_padding_mask=src_pad, memory_key_padding_mask=src_pad, tgt_is_causal=True,
    )  # fmt: skip
    if not norm_first:  # torch's post-LN stacks end with a norm too; ours (like the paper) do not
        expected = ref.decoder.norm(expected)
        model.decoder_norm = ref.decoder.norm
        model.encoder_norm = ref.encoder.norm
    memory = model.encode(b.src, src_pad)
    y_out = y
    for layer in model.decoder:
        y_out = layer(y_out, causal=True, memory=memory, memory_padding_mask=src_pad)
    torch.testing.assert_close(model.decoder_norm(y_out), expected)


def test_padding_does_not_change_the_real_positions() -> None:
    model = _model()
    b = eval_set(TASK, 0, 6)
    logits, _ = model(b.src, b.src_len, b.tgt[:, :-1])
    i = int(b.src_len.argmin())
    n = int(b.src_len[i])
    alone, _ = model(b.src[i : i + 1, :n], b.src_len[i : i + 1], b.tgt[i : i + 1, : n + 1])
    torch.testing.assert_close(logits[i, : n + 1], alone[0])


def test_the_decoder_cannot_see_the_future() -> None:
    model = _model()
    b = eval_set(TASK, 0, 3)
    logits, _ = model(b.src, b.src_len, b.tgt[:, :-1])
    changed = b.tgt[:, :-1].clone()
    changed[:, -1] = 3
    logits2, _ = model(b.src, b.src_len, changed)
    torch.testing.assert_close(logits[:, :-1], logits2[:, :-1])


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_decoding_equals_recomputing_the_prefix(norm_first: bool) -> None:
    model = _model(norm_first)
    b = eval_set(TASK, 0, 6)
    state = model.start_state(b.src, b.src_len, max_len=12)
    step = model.step_fn()
    tokens = torch.full((6,), BOS)
    prefix = tokens[:, None]
    for _ in range(8):
        log_probs, state = step(tokens, state)
        full, _ = model(b.src, b.src_len, prefix)
        torch.testing.assert_close(log_probs, torch.log_softmax(full[:, -1].float(), -1))
        tokens = log_probs.argmax(-1)
        prefix = torch.cat([prefix, tokens[:, None]], 1)


def test_a_beam_of_one_is_greedy_and_beams_reorder_the_caches() -> None:
    model = _model()
    b = eval_set(TASK, 0, 6)
    greedy = model.translate(b.src, b.src_len)
    tokens, lengths, _ = beam_search(
        model.step_fn(), model.start_state(b.src, b.src_len, 12), 6,
        bos=BOS, eos=EOS, max_len=int(b.src_len.max()) + 5, beam_size=1, alpha=0.0,
    )  # fmt: skip
    one = [
        row[: n - 1] if row[n - 1] == EOS else row[:n] for row, n in zip(tokens.tolist(), lengths.tolist())
    ]
    assert one == greedy
    wide = model.translate(b.src, b.src_len, beam=3)  # runs with reordered KV caches
    assert len(wide) == 6


def test_shared_embeddings_are_one_matrix() -> None:
    shared, separate = _model(share=True), _model(share=False)
    assert shared.src_embed.weight is shared.embed.weight
    n = sum(p.numel() for p in shared.parameters())
    assert sum(p.numel() for p in separate.parameters()) == n + TASK.vocab_size * 16


def test_label_smoothing_equals_torchs() -> None:
    torch.manual_seed(0)
    logits = torch.randn(20, 11, dtype=torch.float64)
    target = torch.randint(0, 11, (20,))
    target[:3] = 0  # PAD is ignored
    ours = tr.smoothed_loss(logits, target, 0.1)
    theirs = F.cross_entropy(logits, target, ignore_index=0, label_smoothing=0.1)
    torch.testing.assert_close(ours.double(), theirs)


def test_the_schedule_is_equation_3() -> None:
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1.0)
    sched = tr.noam_schedule(opt, d_model=512, warmup=4000)
    rates = []
    for _ in range(8000):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = max(range(8000), key=rates.__getitem__)
    assert peak == 3999  # step 4000, counted from 1
    assert rates[3999] == pytest.approx(512**-0.5 * 4000**-0.5)
    assert rates[7999] == pytest.approx(512**-0.5 * 8000**-0.5)


def test_table_3_counts() -> None:
    assert tr.count_parameters(tr.BASE) == pytest.approx(65e6, rel=0.05)
    assert tr.count_parameters(tr.BIG) == pytest.approx(213e6, rel=0.05)
    # the count is the formula: shared embedding + 6 encoder and 6 decoder layers
    d, f, v = 512, 2048, 37000
    attention, ffn, norm = 4 * d * d + 4 * d, 2 * d * f + d + f, 2 * d
    assert tr.count_parameters(tr.BASE) == v * d + 6 * (attention + ffn + 2 * norm) + 6 * (
        2 * attention + ffn + 3 * norm
    )


@pytest.mark.parametrize("setting", ["n_head=3", "beam=0", "label_smoothing=1", "lr_scale=0"])
def test_bad_settings_exit_2_before_training(tmp_path, setting) -> None:
    assert main(["run", "transformer", "--quick", "--set", setting, "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "transformer" / "result.json").exists()


def test_quick_run(tmp_path) -> None:
    assert main(["run", "transformer", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "transformer" / "result.json").read_text())
    assert len(result["claims"]) == len(tr.CARD.claims)
    assert {p["file"] for p in result["plots"]} == {"bleu_vs_time.png", "attention_heads.png"}
    assert result["claims"][0]["verdict"] == "reproduced"  # Table 3 does not depend on training
