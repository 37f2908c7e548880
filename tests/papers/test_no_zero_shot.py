"""No "zero-shot" without exponential data: the captioned, Zipf-distributed pairs are seeded and
say what the images show; CLIP's loss, temperature, text read-out and zero-shot classifier; the
log-linear fit; bad settings exit 2; a quick run writes its result, counts and figure and is
fixed by its seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landmarks.cli import main
from landmarks.data import captioned_shapes as cs
from landmarks.data.shapes import _draw
from landmarks.papers import no_zero_shot as nzs

# ---- the pretraining pairs ------------------------------------------------------------------------


def test_zipf_probabilities():
    p = cs.zipf_probabilities(10, 2.0)
    assert torch.isclose(p.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert torch.all(p[:-1] > p[1:])
    assert float(p[0] / p[-1]) == pytest.approx(100.0)  # s = 2 over 10 ranks: two decades


def test_pairs_are_fixed_by_seed_and_split():
    p = cs.zipf_probabilities(10, 1.0)
    a, b = cs.generate_pairs(50, 3, "train", p), cs.generate_pairs(50, 3, "train", p)
    for name in ("images", "tokens", "concepts", "colours", "places"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.images, cs.generate_pairs(50, 4, "train", p).images)
    assert not torch.equal(a.images, cs.generate_pairs(50, 3, "test", p).images)


def test_captions_say_what_the_images_show():
    data = cs.generate_pairs(300, 0, "train", cs.zipf_probabilities(10, 1.0), mention=0.5)
    named_colour = named_place = 0
    for i in range(len(data)):
        words = data.caption(i).split()
        assert words[0] == "a" and cs.CONCEPTS[int(data.concepts[i])] in words
        assert [w for w in words if w in cs.CONCEPTS] == [cs.CONCEPTS[int(data.concepts[i])]]
        colours = [w for w in words if w in cs.COLOURS]
        assert colours in ([], [list(cs.COLOURS)[int(data.colours[i])]])
        places = [w for w in words if w in cs.PLACES]
        assert places in ([], [list(cs.PLACES)[int(data.places[i])]])
        named_colour += bool(colours)
        named_place += bool(places)
    assert 100 < named_colour < 200 and 100 < named_place < 200  # each named half of the time
    assert data.tokens.shape == (300, cs.MAX_WORDS)
    assert (data.tokens == cs.VOCABULARY.index(cs.EOS)).sum(1).eq(1).all()  # one <eos> per caption


def test_zipf_set_is_long_tailed_and_counted():
    p = torch.zeros(10, dtype=torch.float64)
    order = [3, 7, 0, 9, 1, 2, 4, 5, 6, 8]
    p[order] = cs.zipf_probabilities(10, 2.0)
    data = cs.generate_pairs(5000, 1, "train", p)
    counts = cs.concept_counts(data.concepts)
    assert sum(counts) == 5000
    assert counts == np.bincount(data.concepts.numpy(), minlength=10).tolist()
    assert counts[3] > counts[7] > counts[0]  # the first ranks
    assert counts[3] / 5000 == pytest.approx(float(p[3]), abs=0.03)


def test_balanced_test_set():
    data = cs.generate_pairs(200, 0, "test")
    assert cs.concept_counts(data.concepts) == [20] * 10
    with pytest.raises(ValueError, match="multiple of 10"):
        cs.generate_pairs(15, 0, "test")


def test_drawn_object_has_the_chosen_colour_and_place():
    n = 40
    labels = torch.zeros(n, dtype=torch.long)  # disks: the centre pixel is inside
    palette = torch.tensor(list(cs.COLOURS.values()))
    colours = palette[torch.arange(n) % len(palette)]
    places = torch.tensor([[0.5, 0.5]]).expand(n, 2)
    images = _draw(labels, torch.Generator().manual_seed(0), object_colours=colours, places=places)
    centre = images[:, :, 15:17, 15:17].mean((2, 3))  # (n, 3)
    assert (centre - colours).abs().max() < 0.1  # up to the pixel noise (σ = 0.04)
    left = _draw(labels, torch.Generator().manual_seed(0), colours, torch.tensor([[0.0, 0.5]]).expand(n, 2))
    distance = (left - colours[:, :, None, None]).abs().sum(1)  # (n, H, W)
    object_x = torch.nonzero(distance < 0.2)[:, 2].float()
    assert object_x.mean() < 12  # the object sits in the left part


def test_prompts_cover_every_template():
    prompts = cs.concept_prompts(6)
    assert len(prompts) == (1 + len(cs.COLOURS)) * (1 + len(cs.PLACES))
    assert ["a", "star"] in prompts and all("star" in p for p in prompts)


# ---- CLIP --------------------------------------------------------------------------------------------


def _model() -> nzs.CLIP:
    torch.manual_seed(0)
    return nzs.build_model(nzs.PRESETS["quick"])


def test_clip_loss_is_the_symmetric_cross_entropy():
    logits = torch.randn(6, 6)
    targets = torch.arange(6)
    expected = 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))
    assert torch.allclose(nzs.clip_loss(logits), expected)
    matched = 100 * torch.eye(6)
    assert nzs.clip_loss(matched) < 1e-6


def test_embeddings_logits_and_temperature():
    model = _model()
    data = cs.generate_pairs(8, 0, "train", cs.zipf_probabilities(10, 1.0))
    images = data.images.float() / 255
    image_emb, text_emb = model.encode_image(images), model.encode_text(data.tokens)
    assert image_emb.shape == text_emb.shape == (8, nzs.PRESETS["quick"].embed_dim)
    assert torch.allclose(image_emb.norm(dim=-1), torch.ones(8), atol=1e-5)
    assert float(model.logit_scale().detach()) == pytest.approx(1 / 0.07, rel=1e-5)
    logits = model(images, data.tokens)
    assert torch.allclose(logits, (image_emb @ text_emb.T) / 0.07, atol=1e-4)
    with torch.no_grad():
        model.log_logit_scale.fill_(10.0)
    assert float(model.logit_scale().detach()) == pytest.approx(100.0)  # clipped


@pytest.mark.parametrize("encoder", ["convnet", "vit"])
def test_both_image_encoders_give_unit_embeddings(encoder):
    from dataclasses import replace

    from landmarks.nn.vit import VisionTransformer

    torch.manual_seed(0)
    model = nzs.build_model(replace(nzs.PRESETS["quick"], image_encoder=encoder)).eval()
    if encoder == "vit":  # the shared ViT as CLIP's: mean-pooled patches, no class token, no head
        assert isinstance(model.visual, VisionTransformer)
        assert model.visual.cfg.pooling == "avg" and not model.visual.cfg.class_token
        assert model.visual.cfg.num_classes == 0
    else:
        assert isinstance(model.visual, nzs.ConvEncoder)
    with torch.no_grad():
        emb = model.encode_image(torch.rand(3, 3, 32, 32))
    assert emb.shape == (3, nzs.PRESETS["quick"].embed_dim)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_text_encoder_reads_the_eos_token_and_ignores_padding():
    model = _model().eval()
    tokens = cs.tokenize([["a", "red", "star"], ["a", "star"]])
    with torch.no_grad():
        base = model.encode_text(tokens)
        padded = tokens.clone()
        padded[1, 3:] = cs.VOCABULARY.index("left")  # junk after <eos>: causal attention never sees it
        assert torch.allclose(model.encode_text(padded), base, atol=1e-6)
        other = cs.tokenize([["a", "red", "disk"], ["a", "star"]])
        assert not torch.allclose(model.encode_text(other)[0], base[0])


def test_zero_shot_classifier_and_per_concept_accuracy():
    model = _model().eval()
    classifier = nzs.zero_shot_classifier(model)
    assert classifier.shape == (10, nzs.PRESETS["quick"].embed_dim)
    assert torch.allclose(classifier.norm(dim=-1), torch.ones(10), atol=1e-5)
    data = cs.generate_pairs(30, 0, "test")
    images = data.images.float() / 255
    accuracy = nzs.per_concept_accuracy(model, images, data.concepts, classifier, batch=7)
    predicted = (model.encode_image(images) @ classifier.T).argmax(1)
    for c in range(10):
        mine = data.concepts == c
        assert float(accuracy[c]) == pytest.approx(float((predicted[mine] == c).float().mean()))


# ---- the fit -----------------------------------------------------------------------------------------


def test_fit_log_linear_matches_numpy_and_recovers_a_line():
    counts = torch.tensor([10, 30, 100, 300, 1000, 3000])
    exact = 0.2 * counts.double().log10() - 0.1
    line = nzs.fit_log_linear(counts, exact)
    assert (
        line.slope == pytest.approx(0.2)
        and line.intercept == pytest.approx(-0.1)
        and line.r2 == pytest.approx(1)
    )
    assert line.data_multiple(0.2) == pytest.approx(10.0)  # a decade of data per 20 points
    noisy = exact + torch.tensor([0.05, -0.03, 0.02, -0.06, 0.01, 0.04], dtype=torch.float64)
    line = nzs.fit_log_linear(counts, noisy)
    slope, intercept = np.polyfit(np.log10(counts.numpy()), noisy.numpy(), 1)
    r = np.corrcoef(np.log10(counts.numpy()), noisy.numpy())[0, 1]
    assert line.slope == pytest.approx(slope) and line.intercept == pytest.approx(intercept)
    assert line.r2 == pytest.approx(r**2)


def test_fit_log_linear_leaves_out_concepts_never_seen():
    line = nzs.fit_log_linear(torch.tensor([0, 10, 100, 1000]), torch.tensor([0.9, 0.2, 0.4, 0.6]))
    assert line.slope == pytest.approx(0.2) and line.r2 == pytest.approx(1)
    with pytest.raises(ValueError, match="three concepts"):
        nzs.fit_log_linear(torch.tensor([0, 0, 10, 100]), torch.zeros(4))


# ---- the experiment ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, message",
    [
        ("zipf_exponent=0", "zipf_exponent must be > 0"),
        ("batch=1", "batch must be >= 2"),
        ("patch_size=5", "patch_size must divide"),
        ("heads=3", "must be divisible by heads"),
        ("mention=1.5", "mention must be a probability"),
        ("warmup=8", "warmup must lie in [0, steps=8)"),
        ("n_train=10", "must be at least one batch"),
        ("image_encoder=resnet", "image_encoder must be 'convnet' or 'vit'"),
    ],
)
def test_bad_settings_exit_2(setting, message, capsys):
    assert main(["run", "no-zero-shot", "--quick", "--set", setting]) == 2
    assert message in capsys.readouterr().err


def test_quick_run_writes_result_and_is_fixed_by_its_seed(tmp_path: Path):
    from landmarks.runner import run_paper

    saved = []
    for out in (tmp_path / "a", tmp_path / "b"):
        run_paper("no-zero-shot", out=out, quick=True, show_progress=False)
        saved.append(json.loads((out / "no-zero-shot" / "result.json").read_text()))
        assert (out / "no-zero-shot" / "accuracy_vs_frequency.png").stat().st_size > 0
    first = saved[0]
    assert [c["statement"] for c in first["claims"]] == [c.statement for c in nzs.CARD.claims]
    counts = first["metrics"]["concept_counts"]
    assert list(counts) == list(cs.CONCEPTS) and sum(counts.values()) == nzs.PRESETS["quick"].n_train
    assert set(first["metrics"]["zero_shot_accuracy"]) == set(cs.CONCEPTS)
    assert {"slope", "intercept", "r2"} <= set(first["metrics"]["fit"])
    for key in ("concept_counts", "zero_shot_accuracy", "fit", "final_train_loss"):
        assert first["metrics"][key] == saved[1]["metrics"][key]


def test_quick_run_with_the_shared_vit_as_image_encoder(tmp_path: Path):
    """The default image encoder is a ConvNet (the card says why); the shared ViT runs the whole
    experiment too."""
    assert main(["run", "no-zero-shot", "--quick", "--set", "image_encoder=vit", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "no-zero-shot" / "result.json").read_text())
    assert saved["config"]["image_encoder"] == "vit"
    assert [c["statement"] for c in saved["claims"]] == [c.statement for c in nzs.CARD.claims]
    assert set(saved["metrics"]["zero_shot_accuracy"]) == set(cs.CONCEPTS)
