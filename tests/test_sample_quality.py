"""The shared sample-quality measure: the Fréchet distance against closed forms and scipy, the
fixed classifier's cache and determinism, and what its two numbers do on real and broken images."""

from __future__ import annotations

import math

import pytest
import torch

from landmarks.data.shapes import PlainShapes
from landmarks.engine import Run
from landmarks.metrics import sample_quality as sq


def _random_covariance(d: int, g: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_psd_sqrt_squares_back() -> None:
    c = _random_covariance(6, torch.Generator().manual_seed(0))
    root = sq.psd_sqrt(c)
    assert torch.allclose(root @ root, c, atol=1e-10)
    assert torch.allclose(root, root.T)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form() -> None:
    # Σ diagonal: Tr((Σ_1 Σ_2)^{1/2}) = Σ √(a_i b_i), so d² = ‖μ_1 − μ_2‖² + Σ (√a_i − √b_i)²
    g = torch.Generator().manual_seed(1)
    mu_1, mu_2 = (
        torch.randn(5, generator=g, dtype=torch.float64),
        torch.randn(5, generator=g, dtype=torch.float64),
    )
    a, b = (
        torch.rand(5, generator=g, dtype=torch.float64) + 0.1,
        torch.rand(5, generator=g, dtype=torch.float64) + 0.1,
    )
    expected = float((mu_1 - mu_2).square().sum() + (a.sqrt() - b.sqrt()).square().sum())
    got = sq.gaussian_frechet_distance(mu_1, torch.diag(a), mu_2, torch.diag(b))
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_frechet_distance_of_shifted_and_scaled_gaussians() -> None:
    # N(0, σ²I) against N(m, τ²I) in d dimensions: d² = ‖m‖² + d (σ − τ)²
    d = 4
    got = sq.gaussian_frechet_distance(
        torch.zeros(d), 4.0 * torch.eye(d), torch.full((d,), 0.5), 9.0 * torch.eye(d)
    )
    assert got == pytest.approx(d * 0.25 + d * (2.0 - 3.0) ** 2, rel=1e-12)


def test_frechet_distance_matches_scipy_sqrtm() -> None:
    linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(2)
    for d in (3, 16):
        c1, c2 = _random_covariance(d, g), _random_covariance(d, g)
        m1, m2 = (
            torch.randn(d, generator=g, dtype=torch.float64),
            torch.randn(d, generator=g, dtype=torch.float64),
        )
        root = linalg.sqrtm((c1 @ c2).numpy())  # the reference FID code's route (pytorch-fid)
        expected = float((m1 - m2).square().sum() + c1.trace() + c2.trace()) - 2 * float(root.trace().real)
        assert sq.gaussian_frechet_distance(m1, c1, m2, c2) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_from_features_is_symmetric_and_zero_for_one_set() -> None:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(400, 8, generator=g)
    b = torch.randn(300, 8, generator=g) * 1.5 + 0.3
    assert sq.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert sq.frechet_distance(a, b) == pytest.approx(sq.frechet_distance(b, a), rel=1e-9)
    assert sq.frechet_distance(a, b) > 1.0
    with pytest.raises(ValueError, match="differ in width"):
        sq.frechet_distance(a, b[:, :4])


def _run(tmp_path, seed: int = 0) -> Run:
    return Run(paper="test", seed=seed, device=torch.device("cpu"), out=tmp_path, show_progress=False)


TINY = sq.ClassifierSpec(width=8, n_train=400, n_test=200, steps=40, batch=32)


def test_fixed_classifier_is_cached_and_the_same_for_every_paper(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LANDMARKS_CACHE", str(tmp_path / "cache"))
    first = sq.fixed_classifier(_run(tmp_path / "a"), TINY)
    run_b = _run(tmp_path / "b")
    run_b.paper = "another-paper"
    second = sq.fixed_classifier(run_b, TINY)  # from the cache
    assert run_b.metrics["classifier_from_cache"] is True
    fresh = sq.fixed_classifier(_run(tmp_path / "c"), TINY, cache=False)  # trained again
    for q in (second, fresh):
        for key, value in first.model.state_dict().items():
            assert torch.equal(value, q.model.state_dict()[key]), key
    assert first.real_accuracy == second.real_accuracy == fresh.real_accuracy


def test_an_edited_recipe_does_not_load_an_older_recipe_s_weights(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LANDMARKS_CACHE", str(tmp_path / "cache"))
    sq.fixed_classifier(_run(tmp_path / "a"), TINY)
    assert sq.code_fingerprint() == sq.code_fingerprint()  # stable while the source is
    monkeypatch.setattr(sq, "code_fingerprint", lambda: "edited")  # as if the training code changed
    run = _run(tmp_path / "b")
    sq.fixed_classifier(run, TINY)
    assert run.metrics["classifier_from_cache"] is False


def test_accuracy_and_fid_on_real_and_broken_images(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LANDMARKS_CACHE", str(tmp_path / "cache"))
    spec = sq.ClassifierSpec(width=16, n_train=4000, n_test=400, steps=150, batch=64)
    quality = sq.fixed_classifier(_run(tmp_path), spec)
    assert quality.real_accuracy > 0.9  # four shapes, upright, large: an easy task
    images, labels = spec.images.generate(400, seed=0, split="other")
    assert quality.class_accuracy(images, labels) > 0.9
    per_class = quality.per_class_accuracy(images, labels)
    assert len(per_class) == 4 and min(per_class) > 0.7
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    assert quality.class_accuracy(images, shuffled) < 0.45  # the wrong labels: near chance, 1/4
    # the distance grows as images move away from the real ones: real < blurred < one repeated image < noise
    blurred = torch.nn.functional.avg_pool2d(images.float() / 255, 3, stride=1, padding=1)
    one = images[:1].expand(400, -1, -1, -1)
    noise = torch.rand(400, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    distances = [quality.fid(x) for x in (images, blurred, one, noise)]
    assert distances == sorted(distances), distances
    assert distances[0] < 10 * quality.real_floor(400) < distances[1]
    assert quality.features(images).shape == (400, 64)
    with pytest.raises(ValueError, match=r"\(N, 3, 16, 16\)"):
        quality.features(torch.zeros(2, 3, 32, 32))


def test_plain_shapes_are_seeded_balanced_and_bad_settings_are_refused() -> None:
    spec = PlainShapes()
    x, y = spec.generate(100, seed=5)
    x2, y2 = spec.generate(100, seed=5)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == (100, 3, 16, 16) and x.dtype == torch.uint8
    assert torch.bincount(y, minlength=4).tolist() == [25, 25, 25, 25]
    assert not torch.equal(spec.generate(100, seed=5, split="test")[0], x)
    with pytest.raises(ValueError, match="divide 32"):
        PlainShapes(size=12).validate()
    with pytest.raises(ValueError, match="distinct shapes"):
        PlainShapes(classes=("disk", "hexagon")).validate()
    assert math.isclose(float(x.float().mean() / 255), 0.5, abs_tol=0.1)
