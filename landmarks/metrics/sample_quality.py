"""Sample quality of a class-conditional image generator, measured the same way for every one.

A fixed classifier, trained once on real images of the procedural set (``PlainShapes``) and kept
in the user's cache folder (``landmarks.engine.cache``), judges the samples in two ways:

1. **Class accuracy**: the share of samples generated for class c that the classifier calls c.
   It says whether a sample has its class's shape, as a classifier trained on real images sees it.
   It cannot see diversity (a generator that draws one perfect disk for every "disk" scores 100 %),
   nor flaws the classifier ignores; and it is bounded by the classifier's own accuracy on
   held-out real images (``real_accuracy``, the ceiling).
2. **Fréchet distance in the classifier's features** (FID's formula, Heusel et al. 2017, with
   this classifier's pooled features in place of Inception's): fit a Gaussian to the features of
   the samples and one to those of held-out real images, and

       d² = ‖μ_1 − μ_2‖² + Tr(Σ_1 + Σ_2 − 2 (Σ_1 Σ_2)^{1/2})

   It sees diversity and class balance as well as fidelity, but only in what the classifier's
   features hold (a classifier trained to tell shapes apart may not encode colour or position
   well), and it is biased upward at small sample sizes: ``real_floor(n)`` is the distance of n
   fresh real images, what a perfect generator scores with n samples. The numbers are not
   comparable with Inception FIDs.

The classifier trains on real images, half of them blurred (σ up to 1 pixel) and all with a
little noise (``degrade``): trained on sharp images alone it called 50 % of real images wrong
after a 3×3 box blur, so it judged crispness more than shape; with the augmentation it keeps
about 90 %, and a sample is judged by its shape. Softness and grain still move the Fréchet
distance.

Images are float (N, 3, size, size) in [0, 1] (a sampler's output x ∈ [−1, 1] maps by (x + 1)/2;
uint8 images are divided by 255); values outside are clipped. The classifier is trained per
(seed, image settings, recipe): the same seed gives the same classifier in every paper that
asks for it, from the cache or not.

Public API::

    ClassifierSpec(images=PlainShapes(), width=32, n_train=20000, n_test=2000, steps=300, batch=128, lr=3e-3)
    fixed_classifier(run, spec=ClassifierSpec(), *, cache=True) -> SampleQuality
    SampleQuality  .class_accuracy(images, labels), .per_class_accuracy(images, labels),
                   .predict(images), .features(images), .fid(images), .real_floor(n),
                   .real_accuracy, .spec
    ShapeClassifier(num_classes, width)  .features(x), (x) -> logits
    frechet_distance(features_a, features_b)
    gaussian_frechet_distance(mu_1, cov_1, mu_2, cov_2)
    psd_sqrt(matrix)
    gaussian_blur(images, sigma), degrade(images, generator)   (the classifier's augmentation)
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.data.shapes import PlainShapes

if TYPE_CHECKING:
    from landmarks.engine import Run

__all__ = [
    "WHAT_IT_TELLS",
    "ClassifierSpec",
    "SampleQuality",
    "ShapeClassifier",
    "degrade",
    "fixed_classifier",
    "frechet_distance",
    "gaussian_blur",
    "gaussian_frechet_distance",
    "psd_sqrt",
]

# What the two measures can and cannot tell, for the cards of the generators they judge.
WHAT_IT_TELLS = (
    "What the two measures tell. Class accuracy says whether a sample has its class's shape as a "
    "classifier trained on real images sees it; it cannot see diversity (one perfect image per "
    "class scores 100 %) or flaws the classifier ignores, and it is capped by the classifier's "
    "accuracy on held-out real images (``real_accuracy``, recorded by each run). The Fréchet "
    "distance in the classifier's pooled features sees diversity and class balance as well as "
    "fidelity, but only what those features hold (shape more than colour or place), it is biased "
    "upward for few samples (``real_floor(n)``: n fresh real images against the reference), and it "
    "is not comparable with Inception FIDs."
)

CACHE_NAME = "sample-quality-classifier"
CACHE_VERSION = 2  # bump when the classifier, its data or its training changes


def code_fingerprint() -> str:
    """A hash of the source that trains the classifier and draws its images (this module and
    ``landmarks.data.shapes``): part of the cache key, so that editing either retrains the
    classifier instead of loading weights an older recipe made under the same settings, which
    CACHE_VERSION alone relies on someone remembering to bump."""
    import hashlib
    import inspect

    from landmarks.data import shapes

    digest = hashlib.sha256()
    for module in (shapes, sys.modules[__name__]):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:16]


EVAL_BATCH = 500


# ---- the Fréchet distance between two Gaussians -------------------------------------------------


def psd_sqrt(matrix: Tensor) -> Tensor:
    """The symmetric square root S of a symmetric positive semi-definite matrix (S S = A), by the
    eigendecomposition A = V diag(λ) Vᵀ → V diag(√λ) Vᵀ; rounding's tiny negative λ count as 0."""
    sym = (matrix + matrix.T) / 2
    eigenvalues, eigenvectors = torch.linalg.eigh(sym)
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def gaussian_frechet_distance(mu_1: Tensor, cov_1: Tensor, mu_2: Tensor, cov_2: Tensor) -> float:
    """d² = ‖μ_1 − μ_2‖² + Tr(Σ_1) + Tr(Σ_2) − 2 Tr((Σ_1 Σ_2)^{1/2}), the squared 2-Wasserstein
    distance between N(μ_1, Σ_1) and N(μ_2, Σ_2) (Dowson and Landau 1982), in float64.

    Σ_1 Σ_2 is not symmetric, but it is similar to Σ_1^{1/2} Σ_2 Σ_1^{1/2}, which is symmetric
    PSD: the two have the same eigenvalues, so the trace of the root is Σ √λ_i of the latter, and
    no general (complex) matrix square root is needed.
    """
    mu_1, mu_2, cov_1, cov_2 = (t.detach().double().cpu() for t in (mu_1, mu_2, cov_1, cov_2))
    root_1 = psd_sqrt(cov_1)
    middle = root_1 @ cov_2 @ root_1
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    d2 = (mu_1 - mu_2).square().sum() + cov_1.trace() + cov_2.trace() - 2 * trace_root
    return float(d2.clamp(min=0))


def gaussian_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (D,) and covariance (D, D) of (N, D) features, float64; the covariance divides by
    N − 1, as numpy's ``cov`` in the reference FID code."""
    x = features.detach().double().cpu()
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"need features (N, D) with N >= 2 to fit a Gaussian, got {tuple(x.shape)}")
    return x.mean(0), torch.cov(x.T)


def frechet_distance(features_a: Tensor, features_b: Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of features (N_a, D) and (N_b, D)."""
    if features_a.shape[1:] != features_b.shape[1:]:
        raise ValueError(f"features differ in width: {tuple(features_a.shape)} and {tuple(features_b.shape)}")
    return gaussian_frechet_distance(*gaussian_statistics(features_a), *gaussian_statistics(features_b))


# ---- the classifier ------------------------------------------------------------------------------


class ShapeClassifier(nn.Module):
    """A small ConvNet on [0, 1] images: (conv 3×3 → BN → ReLU) × 2 at width w, 2×2 max-pool,
    the same at 2w, max-pool, one more at 4w, global average pool (the features, 4w of them), linear."""

    def __init__(self, num_classes: int, width: int = 32) -> None:
        super().__init__()

        def unit(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

        w = width
        self.body = nn.Sequential(
            *unit(3, w), *unit(w, w), nn.MaxPool2d(2),
            *unit(w, 2 * w), *unit(2 * w, 2 * w), nn.MaxPool2d(2),
            *unit(2 * w, 4 * w),
        )  # fmt: skip
        self.head = nn.Linear(4 * w, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) in [0, 1] → (B, 4w): the pooled features the Fréchet distance compares."""
        x = (x.clamp(0, 1) - 0.5) / 0.25  # the pixel range centred; every class has the same mean image
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class ClassifierSpec:
    """Which images the classifier judges, and how it is trained (all part of the cache key)."""

    images: PlainShapes = field(default_factory=PlainShapes)
    width: int = 32
    n_train: int = 20_000
    n_test: int = 2_000  # held-out real images: the ceiling accuracy and the Fréchet reference
    steps: int = 300
    batch: int = 128
    lr: float = 3e-3  # AdamW, one-cycle schedule

    def validate(self) -> None:
        self.images.validate()
        for name in ("width", "n_train", "n_test", "steps", "batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"classifier {name} must be >= 1, got {getattr(self, name)}")
        if self.n_test < 2 * self.images.num_classes:
            raise ValueError(f"classifier n_test must be >= {2 * self.images.num_classes}, got {self.n_test}")
        if not self.lr > 0:
            raise ValueError(f"classifier lr must be > 0, got {self.lr}")


def gaussian_blur(images: Tensor, sigma: Tensor) -> Tensor:
    """Each image of (B, C, H, W) blurred by a Gaussian of its own width ``sigma`` (B,) in pixels:
    a separable 5-tap kernel, edges repeated."""
    b, c, h, w = images.shape
    taps = torch.arange(-2, 3, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None].to(images) ** 2))  # (B, 5)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)[:, None, None, :]  # (BC, 1, 1, 5)
    x = F.pad(images.reshape(1, b * c, h, w), (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(
        F.conv2d(x, kernel, groups=b * c), kernel.transpose(2, 3), groups=b * c
    )  # rows, then columns
    return x.reshape(b, c, h, w)


def degrade(images: Tensor, generator: torch.Generator) -> Tensor:
    """The classifier's training augmentation: half the images blurred (σ uniform in 0.3 to 1 pixel),
    and every image given Gaussian noise of its own σ, uniform in 0 to 0.05. A judge of the class
    should not be thrown by a sample's softness or grain (the Fréchet distance sees those)."""
    n = len(images)
    sigma = 0.3 + 0.7 * torch.rand(n, generator=generator)
    blur = torch.rand(n, generator=generator) < 0.5
    x = torch.where(blur[:, None, None, None], gaussian_blur(images, sigma), images)
    noise = (
        0.05 * torch.rand(n, 1, 1, 1, generator=generator) * torch.randn(images.shape, generator=generator)
    )
    return (x + noise).clamp(0, 1)


def _as_float(images: Tensor) -> Tensor:
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


class SampleQuality:
    """The fixed classifier, in eval mode, with the held-out real images' features as reference."""

    def __init__(self, model: ShapeClassifier, spec: ClassifierSpec, seed: int, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.spec, self.seed, self.device = spec, seed, device
        x_test, y_test = spec.images.generate(spec.n_test, seed, "test")
        test_features = self.features(x_test)
        with torch.no_grad():
            predicted = self.model.head(test_features.to(device)).argmax(1).cpu()
        self.real_accuracy = float((predicted == y_test).float().mean())
        self.reference = gaussian_statistics(test_features)
        self._floors: dict[int, float] = {}

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """(N, 3, size, size) images, float in [0, 1] or uint8 → (N, 4w) features, on the CPU."""
        size = self.spec.images.size
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(f"images must be (N, 3, {size}, {size}), got {tuple(images.shape)}")
        chunks = [
            self.model.features(_as_float(images[i : i + EVAL_BATCH]).to(self.device)).cpu()
            for i in range(0, len(images), EVAL_BATCH)
        ]
        return torch.cat(chunks)

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        """The class the classifier sees in each image, (N,) on the CPU."""
        return self.model.head(self.features(images).to(self.device)).argmax(1).cpu()

    def class_accuracy(self, images: Tensor, labels: Tensor) -> float:
        """The share of images the classifier assigns the class they were generated for."""
        return float((self.predict(images) == labels.cpu()).float().mean())

    def per_class_accuracy(self, images: Tensor, labels: Tensor) -> list[float]:
        hits = self.predict(images) == labels.cpu()
        return [
            float(hits[labels.cpu() == c].float().mean()) if bool((labels == c).any()) else float("nan")
            for c in range(self.spec.images.num_classes)
        ]

    def fid(self, images: Tensor) -> float:
        """The Fréchet distance between the images' features and the held-out real images'."""
        return gaussian_frechet_distance(*gaussian_statistics(self.features(images)), *self.reference)

    def real_floor(self, n: int) -> float:
        """``fid`` of n fresh real images (a split of their own): what a perfect generator scores
        with n samples, the small-sample bias of the distance."""
        if n not in self._floors:
            images, _ = self.spec.images.generate(n, self.seed, "fid-floor")
            self._floors[n] = self.fid(images)
        return self._floors[n]


def fixed_classifier(run: Run, spec: ClassifierSpec | None = None, *, cache: bool = True) -> SampleQuality:
    """The classifier of ``spec`` for ``run.seed``: from the cache, or trained (and cached).

    Its data and batches come from generators keyed by the seed alone, not by the paper, so
    every paper that asks gets the same classifier for the same seed.
    """
    from landmarks.engine import fit, warmup_cosine
    from landmarks.engine.cache import cached_state
    from landmarks.engine.optim import adamw
    from landmarks.engine.seeding import derive_seed, torch_generator

    spec = spec or ClassifierSpec()
    spec.validate()
    k = spec.images.num_classes
    torch.manual_seed(derive_seed(run.seed, CACHE_NAME, "init"))
    # channels last: a training step takes 36 ms against 45 contiguous on two CPU cores
    model = ShapeClassifier(k, spec.width).to(run.device, memory_format=torch.channels_last)

    def train() -> dict[str, Tensor]:
        x_train, y_train = spec.images.generate(spec.n_train, run.seed, "train")
        x_train = x_train.float() / 255

        def batch_fn(step: int) -> tuple[Tensor, Tensor]:
            g = torch_generator(run.seed, CACHE_NAME, "batch", step)
            idx = torch.randint(len(y_train), (spec.batch,), generator=g)
            return degrade(x_train[idx], g).to(run.device), y_train[idx].to(run.device)

        def loss_fn(net: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, float]]:
            x, y = batch
            logits = net(x)
            return F.cross_entropy(logits, y), {"error": float((logits.argmax(1) != y).float().mean())}

        optimizer = adamw(model.parameters(), device=run.device, lr=spec.lr, weight_decay=0.05)
        history = fit(
            run,
            CACHE_NAME,
            model,
            optimizer,
            steps=spec.steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            scheduler=warmup_cosine(optimizer, max(1, spec.steps // 10), spec.steps),
        )
        run.metric("classifier_train_seconds", round(history.seconds, 2))
        return model.state_dict()

    key = {"spec": asdict(spec), "seed": run.seed, "version": CACHE_VERSION, "code": code_fingerprint()}
    state, cached = cached_state(run.log, CACHE_NAME, key, train, enabled=cache)
    model.load_state_dict(state)
    run.metric("classifier_from_cache", cached)
    quality = SampleQuality(model, spec, run.seed, run.device)
    run.log(f"fixed classifier: {100 * quality.real_accuracy:.1f} % on {spec.n_test} held-out real images")
    return quality
