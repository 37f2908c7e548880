"""A dense-prediction task that needs wide context: label every pixel with its nearest seed's class.

An image of ``size``×``size`` pixels holds 3 to 7 seeds: small discs (radius √2 px) at random
places, each of a random class among ``classes``. The input is a class-score map of the kind a
segmentation front-end produces, (C, H, W): the one-hot class of a seed on that seed's pixels
and zero everywhere else. The target labels every pixel with the class of the seed closest to
it (its Voronoi cell), so most pixels carry no evidence at all: a pixel's class is decided by
seeds that lie, on 64×64 images, a median of about 15 pixels and up to about 70 away.

That is the situation the context module of "Multi-Scale Context Aggregation by Dilated
Convolutions" is for: a network must gather evidence from far away. A stack of L undilated 3×3
convolutions sees a square of (2L + 1)² pixels; a pixel with no seed inside that square can only
guess (``reach``, ``nearest_seed_distance`` and ``dilated-convolutions`` measure how often that is).

Every example is a function of the generator alone (``landmarks.data.synthetic``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["SeedRegionBatch", "SeedRegions"]


class SeedRegionBatch(NamedTuple):
    scores: torch.Tensor  # (B, C, H, W) float32: one-hot class evidence on seed pixels, else 0
    labels: torch.Tensor  # (B, H, W) int64: the class of each pixel's nearest seed
    distance: torch.Tensor  # (B, H, W) float32: pixels from each pixel to its nearest seed's centre

    def to(self, device: str | torch.device) -> SeedRegionBatch:
        return SeedRegionBatch(*(t.to(device) for t in self))


class SeedRegions:
    """``sample(n, generator)`` → ``SeedRegionBatch`` of ``size``² images with ``classes`` classes."""

    def __init__(self, size: int = 64, classes: int = 8, min_seeds: int = 3, max_seeds: int = 7) -> None:
        if size < 4 or classes < 2 or not 1 <= min_seeds <= max_seeds:
            raise ValueError(
                f"need size >= 4, classes >= 2 and 1 <= min_seeds <= max_seeds, got size={size}, "
                f"classes={classes}, seeds {min_seeds}..{max_seeds}"
            )
        self.size, self.classes, self.min_seeds, self.max_seeds = size, classes, min_seeds, max_seeds
        self.name = f"seed-regions-{size}-{classes}-{min_seeds}-{max_seeds}"

    def sample(self, n: int, generator: torch.Generator) -> SeedRegionBatch:
        s, k_max = self.size, self.max_seeds
        count = torch.randint(self.min_seeds, k_max + 1, (n,), generator=generator)  # (B,)
        centre = torch.randint(0, s, (n, k_max, 2), generator=generator).float()  # (B, K, 2): row, col
        cls = torch.randint(0, self.classes, (n, k_max), generator=generator)  # (B, K)
        present = torch.arange(k_max) < count[:, None]  # (B, K)
        rows, cols = torch.meshgrid(torch.arange(s).float(), torch.arange(s).float(), indexing="ij")
        d2 = (rows - centre[..., 0, None, None]) ** 2 + (
            cols - centre[..., 1, None, None]
        ) ** 2  # (B, K, H, W)
        d2 = d2.masked_fill(~present[..., None, None], float("inf"))
        nearest_d2, nearest = d2.min(dim=1)  # (B, H, W): ties go to the lower seed index
        labels = cls.gather(1, nearest.flatten(1)).view(n, s, s)
        on_seed = (d2 <= 2.0).float()  # (B, K, H, W): the 3×3-ish disc of each seed
        scores = torch.einsum("bkhw,bkc->bchw", on_seed, F.one_hot(cls, self.classes).float()).clamp(max=1)
        return SeedRegionBatch(scores, labels, nearest_d2.sqrt())


def mean_iou(predicted: torch.Tensor, labels: torch.Tensor, classes: int) -> float:
    """Mean over classes of |pred ∩ true| / |pred ∪ true|, over all pixels of the batch (classes
    absent from both are left out), the segmentation metric of the paper's Table 2."""
    p, t = predicted.flatten(), labels.flatten()
    confusion = torch.bincount(t * classes + p, minlength=classes * classes).view(classes, classes).double()
    intersection = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - intersection
    seen = union > 0
    return float((intersection[seen] / union[seen]).mean())
