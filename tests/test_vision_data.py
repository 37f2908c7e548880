"""The procedural image set (landmarks.data.shapes) and batched augmentation (landmarks.data.augment)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landmarks.data import augment, shapes
from landmarks.data.cifar import write_cifar_batch
from landmarks.data.errors import DataFormatError


def test_shapes_are_seeded_balanced_and_in_the_cifar_layout():
    x, y = shapes.generate_shapes(200, seed=3)
    assert x.shape == (200, 3, 32, 32) and x.dtype == np.uint8
    assert np.bincount(y, minlength=10).tolist() == [20] * 10
    x2, y2 = shapes.generate_shapes(200, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = shapes.generate_shapes(200, seed=4)
    assert not np.array_equal(x, x3)
    test, _ = shapes.generate_shapes(200, seed=3, split="test")
    assert not np.array_equal(x, test)


def test_every_class_draws_its_own_shape():
    """With clutter and noise aside, the object's coverage differs between classes."""
    u, v = torch.meshgrid(torch.linspace(-1.2, 1.2, 41), torch.linspace(-1.2, 1.2, 41), indexing="ij")
    masks = [(f(u, v) > 0).float() for f in shapes.SHAPES.values()]
    for i in range(len(masks)):
        assert 0.05 < masks[i].mean() < 0.8, shapes.CLASSES[i]
        for j in range(i):
            assert (masks[i] != masks[j]).float().mean() > 0.05, (shapes.CLASSES[i], shapes.CLASSES[j])


def test_the_class_means_are_alike():
    """Colour is symmetric around the background, so no class has its own mean image."""
    x, y = shapes.generate_shapes(2000, seed=0)
    per_image = x.reshape(len(x), -1).mean(1)
    means = np.array([per_image[y == c].mean() for c in range(10)])
    standard_error = per_image.std() / np.sqrt(200)
    assert np.abs(means - per_image.mean()).max() < 4 * standard_error


def test_load_shapes_caches_and_survives_a_corrupt_cache(tmp_path):
    a = shapes.load_shapes(20, 10, seed=1, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("*.npz")
    b = shapes.load_shapes(20, 10, seed=1, cache_dir=tmp_path)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    cached.write_bytes(b"not an npz")
    c = shapes.load_shapes(20, 10, seed=1, cache_dir=tmp_path)
    assert torch.equal(a.x_train, c.x_train)
    assert a.num_classes == 10 and a.x_train.dtype == torch.uint8 and a.y_train.dtype == torch.int64


def test_load_image_set_reads_cifar_binary_batches(tmp_path):
    rng = np.random.default_rng(0)
    for name in (*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"):
        write_cifar_batch(
            tmp_path / name, rng.integers(0, 256, (12, 3, 32, 32), dtype=np.uint8), np.arange(12) % 10
        )
    data = shapes.load_image_set(tmp_path, 30, 5, seed=0)
    assert data.x_train.shape == (30, 3, 32, 32) and data.x_test.shape == (5, 3, 32, 32)
    assert data.classes[0] == "airplane" and "CIFAR-10" in data.source
    (tmp_path / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DataFormatError, match=r"test_batch\.bin"):
        shapes.load_image_set(tmp_path, 30, 5, seed=0)


def test_random_crop_shifts_whole_images_and_keeps_pixels():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6) + 1
    out = augment.random_crop(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for i in range(2):
        nonzero = out[i][out[i] != 0]
        assert set(nonzero.tolist()) <= set(x[i].flatten().tolist())
        # one shift for all channels: channel c is channel 0 plus a constant where both are inside
        inside = out[i, 0] != 0
        assert torch.equal(out[i, 1][inside] - out[i, 0][inside], torch.full_like(out[i, 0][inside], 36))
    assert torch.equal(augment.random_crop(x, 0, torch.Generator()), x)


def test_random_flip_mirrors_about_half():
    x = torch.randn(400, 3, 4, 4)
    out = augment.random_flip(x, torch.Generator().manual_seed(0))
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert bool((flipped | kept).all())
    assert 150 < int(flipped.sum()) < 250


def test_pca_colour_jitter_moves_along_the_principal_components():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(500, 1, 8, 8, generator=g)
    images = torch.cat([base, 0.5 * base, 0.1 * torch.randn(500, 1, 8, 8, generator=g)], dim=1)
    values, vectors = augment.rgb_pca(images)
    assert torch.allclose(vectors.T @ vectors, torch.eye(3), atol=1e-5)
    top = vectors[:, -1] * torch.sign(vectors[0, -1])
    assert torch.allclose(top, torch.tensor([2.0, 1.0, 0.0]) / 5**0.5, atol=0.05)
    x = torch.zeros(64, 3, 2, 2)
    out = augment.pca_colour_jitter(x, values, vectors, 0.1, torch.Generator().manual_seed(1))
    shift = out[:, :, 0, 0]
    assert torch.equal(out, shift[:, :, None, None].expand_as(out))  # one colour shift per image
    # α_i recovered along the components with variance: the third is 0 (green is half of red), its
    # eigenvalue a rounding error, and shift / λ there is noise over noise (it failed CI once)
    assert float(values[0]) < 1e-6 * float(values[-1])
    along = (shift @ vectors)[:, 1:] / values[1:]
    assert 0.05 < float(along.std()) < 0.2
    with pytest.raises(ValueError):
        augment.pca_colour_jitter(x, values, vectors, -1.0, torch.Generator())


def test_linear_probe_stays_near_chance_on_the_shapes():
    data = shapes.load_shapes(1000, 500, seed=0)
    assert shapes.linear_probe_accuracy(data, n_train=1000, steps=30) < 0.2
