"""Data augmentation as batched tensor ops: one call transforms a whole batch, no Python loop
over images.

- ``random_crop``: pad each image by ``padding`` pixels (zeros) and cut a random window of the
  original size from it, the translation augmentation of AlexNet (Sec. 4.1, there 224 of 256)
  and of the CIFAR ResNets (4 pixels of padding).
- ``random_flip``: mirror each image left–right with probability 1/2.
- ``pca_colour_jitter``: AlexNet's "altering the intensities of the RGB channels" (Sec. 4.1):
  with p_i, λ_i the eigenvectors and eigenvalues of the training set's 3×3 RGB covariance
  (``rgb_pca``), add [p_1, p_2, p_3][α_1 λ_1, α_2 λ_2, α_3 λ_3]ᵀ to every pixel of an image,
  α_i ~ N(0, σ²) drawn once per image and per presentation (σ = 0.1 in the paper). The paper
  does not say in which units λ_i is; most reimplementations (fb.resnet.torch, timm) use the
  standard deviation along p_i, √λ_i of pixels in [0, 1], and so does ``alexnet``: the
  covariance's own eigenvalue on such pixels would move colours by well under 1 %.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["pca_colour_jitter", "random_crop", "random_flip", "rgb_pca"]


def random_crop(x: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """(B, C, H, W) → (B, C, H, W): each image shifted by up to ±``padding`` pixels, the edge
    filled with zeros (pad, then crop a random H×W window)."""
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if padding == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p)
    dy, dx = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H): the window's rows
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)


def random_flip(x: Tensor, generator: torch.Generator) -> Tensor:
    """Mirror each image of (B, C, H, W) left–right with probability 1/2."""
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def rgb_pca(images: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues (3,) and eigenvectors (3, 3) (columns) of the RGB covariance over every pixel
    of ``images`` (N, 3, H, W), in the images' own units."""
    pixels = images.transpose(0, 1).reshape(3, -1).double()  # (3, N·H·W)
    covariance = torch.cov(pixels)  # (3, 3)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending, orthonormal columns
    return eigenvalues.float(), eigenvectors.float()


def pca_colour_jitter(
    x: Tensor, magnitudes: Tensor, eigenvectors: Tensor, sigma: float, generator: torch.Generator
) -> Tensor:
    """Add [p_1, p_2, p_3][α_1 λ_1, α_2 λ_2, α_3 λ_3]ᵀ, α ~ N(0, σ²) per image, to (B, 3, H, W);
    ``magnitudes`` are the λ_i (3,), ``eigenvectors`` the p_i as columns (3, 3)."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    alpha = sigma * torch.randn(x.shape[0], 3, generator=generator).to(x.device)  # (B, 3)
    shift = (alpha * magnitudes.to(x.device)) @ eigenvectors.to(x.device).T  # (B, 3): Σ_i α_i λ_i p_i
    return x + shift[:, :, None, None]
