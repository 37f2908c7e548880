"""scikit-learn's handwritten digits (1,797 images of 8×8, 10 classes) as float tensors.

The data ships inside scikit-learn, so nothing is downloaded. Pixels are 0..16 in the file;
here they are scaled to [0, 1] and, if asked, upsampled bilinearly to ``size``×``size`` (16 or
32 for the convolutional entries) and standardised with the training set's mean and std.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from landmarks.engine.seeding import numpy_rng

NUM_CLASSES = 10


@dataclass(frozen=True)
class DigitsSplit:
    x_train: torch.Tensor  # (N_train, 1, size, size) float32
    y_train: torch.Tensor  # (N_train,) int64 in 0..9
    x_test: torch.Tensor  # (N_test, 1, size, size) float32
    y_test: torch.Tensor  # (N_test,) int64
    num_classes: int = NUM_CLASSES


@lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sklearn_digits  # slow import, only when needed

    bunch = sklearn_digits()
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices with each class split in the same proportion; fixed by seed."""
    rng = numpy_rng(seed, "digits-split")
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = round(len(idx) * test_fraction)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_digits(
    size: int = 8, seed: int = 0, test_fraction: float = 0.2, normalize: bool = False
) -> DigitsSplit:
    """The digits split into train and test, images (N, 1, size, size).

    ``size`` > 8 upsamples bilinearly; ``normalize`` standardises with the training set's
    pixel mean and std (one scalar each) instead of leaving pixels in [0, 1].
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    images, labels = _raw_digits()
    x = torch.from_numpy(images / 16.0).float().unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    if size != x.shape[-1]:
        # Bilinear weights are convex, so pixels stay in [0, 1].
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    y = torch.from_numpy(labels)
    train, test = (torch.from_numpy(i) for i in stratified_split(labels, test_fraction, seed))
    x_train, x_test = x[train], x[test]
    if normalize:
        mean, std = x_train.mean(), x_train.std()
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return DigitsSplit(x_train, y[train], x_test, y[test])
