"""A procedural 32×32 colour image set for classification: ten shapes and textures in clutter.

Each image holds one object, drawn at a random position, scale (radius 5.5 to 11 pixels) and
rotation, in a random colour over a random background with a linear colour gradient, behind
which three thin line segments of other random colours lie as clutter, and Gaussian pixel noise
on top. The class is the object's *shape*:

    disk · ring · square · frame · triangle · plus · star · crescent · stripes · checkerboard

(stripes and checkerboard are square patches of a texture, so they differ from a square, and
from each other, only inside). Colour, position, size and orientation carry no information
about the class, so a linear model on the pixels has little to hold on to: it sees the sum of
pixel values, and a class is a set of edges at any place and angle (``linear_probe_accuracy``
measures it; ``alexnet`` reports the number). A small ConvNet learns it in minutes on a CPU.

Drawing is vectorized over images: each class is a signed distance function of the pixel's
position in the object's own frame (u, v), and the pixel's coverage is that distance in pixels,
clamped, which anti-aliases every edge. Fifty thousand images take about 6 s on two cores. A set is fixed
by its seed; ``load_shapes`` keeps it as an ``.npz`` (no pickles) under the run folder, so a
second run of the same seed reads it back. ``load_image_set`` reads CIFAR-10's binary batches
instead when the user passes ``--data-dir``; both return ``ImageSet`` with uint8 images in the
CIFAR layout (N, 3, 32, 32).

``PlainShapes`` draws a plainer variant for generative models at CPU scale (``latent-diffusion``,
``imagine-flash``): the same shapes, one on a flat background, no clutter, upright by default,
four classes, averaged down to 16×16.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from landmarks.engine.seeding import torch_generator
from landmarks.files import atomic_write_bytes

__all__ = [
    "CLASSES",
    "ImageSet",
    "PlainShapes",
    "generate_shapes",
    "linear_probe_accuracy",
    "load_image_set",
    "load_shapes",
    "plot_class_grid",
    "standardize",
]

SIZE = 32
CACHE_VERSION = 1  # bump when the drawing changes, so old caches are not read as the new set
CHUNK = 4096  # images drawn at once: (CHUNK, 32, 32) float32 maps are 16 MB each


# ---- the classes: signed distance functions in the object's frame (positive inside) ----------


def _box(u: Tensor, v: Tensor, half: float) -> Tensor:
    return half - torch.maximum(u.abs(), v.abs())


def _band(t: Tensor, period: float) -> Tensor:
    """Stripes across t: positive on the middle half of each period (a signed distance)."""
    return (0.25 - ((t / period) % 1.0 - 0.5).abs()) * period


def _disk(u: Tensor, v: Tensor) -> Tensor:
    return 1.0 - torch.hypot(u, v)


def _ring(u: Tensor, v: Tensor) -> Tensor:
    r = torch.hypot(u, v)
    return torch.minimum(1.0 - r, r - 0.55)


def _square(u: Tensor, v: Tensor) -> Tensor:
    return _box(u, v, 0.85)


def _frame(u: Tensor, v: Tensor) -> Tensor:
    m = torch.maximum(u.abs(), v.abs())
    return torch.minimum(0.9 - m, m - 0.55)


def _triangle(u: Tensor, v: Tensor) -> Tensor:
    """Equilateral, circumradius 1: the intersection of three half-planes 0.5 from the centre."""
    angles = (math.pi / 2, math.pi / 2 + 2 * math.pi / 3, math.pi / 2 + 4 * math.pi / 3)
    sides = [0.5 + (u * math.cos(a) + v * math.sin(a)) for a in angles]  # normals point inward
    return torch.minimum(torch.minimum(sides[0], sides[1]), sides[2])


def _plus(u: Tensor, v: Tensor) -> Tensor:
    bar = lambda a, b: torch.minimum(0.3 - a.abs(), 0.95 - b.abs())  # noqa: E731
    return torch.maximum(bar(u, v), bar(v, u))


def _star(u: Tensor, v: Tensor) -> Tensor:
    """Five points: the radius swings between 0.4 and 1 with the angle."""
    r, phi = torch.hypot(u, v), torch.atan2(v, u)
    reach = 0.4 + 0.6 * ((1 + torch.cos(5 * phi)) / 2) ** 2
    return (reach - r) * 0.6  # ~ distance: the boundary's slope is steep near the points


def _crescent(u: Tensor, v: Tensor) -> Tensor:
    return torch.minimum(1.0 - torch.hypot(u, v), torch.hypot(u - 0.45, v) - 0.75)


def _stripes(u: Tensor, v: Tensor) -> Tensor:
    return torch.minimum(_box(u, v, 0.85), _band(u, 0.42))


def _checkerboard(u: Tensor, v: Tensor) -> Tensor:
    su, sv = _band(u, 0.56), _band(v, 0.56)
    same = torch.sign(su) * torch.sign(sv)  # inside where both bands agree
    return torch.minimum(_box(u, v, 0.85), same * torch.minimum(su.abs(), sv.abs()))


SHAPES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "disk": _disk,
    "ring": _ring,
    "square": _square,
    "frame": _frame,
    "triangle": _triangle,
    "plus": _plus,
    "star": _star,
    "crescent": _crescent,
    "stripes": _stripes,
    "checkerboard": _checkerboard,
}
CLASSES = tuple(SHAPES)


# ---- drawing -------------------------------------------------------------------------------------


def _uniform(g: torch.Generator, *shape: int, low: float = 0.0, high: float = 1.0) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=g)


def _draw(
    labels: Tensor, g: torch.Generator, object_colours: Tensor | None = None, places: Tensor | None = None
) -> Tensor:
    """Images (N, 3, 32, 32) in [0, 1] for ``labels`` (N,), all randomness from ``g``.

    ``object_colours`` (N, 3) in [0, 1] fixes each object's colour (the background is then drawn 0.35 to
    0.65 away from it, the rule below run backwards); ``places`` (N, 2) in [0, 1] fixes where its
    centre lies, as a fraction of the free range along x and y. Without them both are random, and
    the random draws are exactly those of the original set (same seed, same images).
    """
    n = len(labels)
    ys, xs = torch.meshgrid(torch.arange(SIZE) + 0.5, torch.arange(SIZE) + 0.5, indexing="ij")  # (H, W)

    # Background: a random colour with a linear gradient of up to ±0.15 across the image.
    if object_colours is None:
        base = _uniform(g, n, 3, 1, 1)
    else:
        base = (object_colours[:, :, None, None] - _uniform(g, n, 3, 1, 1, low=0.35, high=0.65)) % 1.0
    slope = _uniform(g, n, 3, 2, low=-0.3, high=0.3)
    image = (
        base + slope[..., 0, None, None] * (xs / SIZE - 0.5) + slope[..., 1, None, None] * (ys / SIZE - 0.5)
    )

    # Clutter: three thin line segments (distance to a segment < 0.8 px) in random colours.
    k = 3
    ends = _uniform(g, n, k, 4, high=SIZE)  # x0, y0, x1, y1
    colours = _uniform(g, n, k, 3)
    px, py = xs - ends[..., 0, None, None], ys - ends[..., 1, None, None]  # (N, k, H, W)
    dx, dy = (ends[..., 2] - ends[..., 0])[..., None, None], (ends[..., 3] - ends[..., 1])[..., None, None]
    t = ((px * dx + py * dy) / (dx * dx + dy * dy + 1e-6)).clamp(0, 1)
    dist = torch.hypot(px - t * dx, py - t * dy)
    for j in range(k):  # paint one over the other
        alpha = (0.8 - dist[:, j]).clamp(0, 1)[:, None]  # (N, 1, H, W)
        image = image + alpha * (colours[:, j, :, None, None] - image)

    image = _paint_object(
        image, base, labels, g, scale=(5.5, 11.0), rotate=True, object_colours=object_colours, places=places
    )
    image = image + 0.04 * torch.randn(image.shape, generator=g)
    return image.clamp(0, 1)


def _paint_object(
    image: Tensor,
    base: Tensor,
    labels: Tensor,
    g: torch.Generator,
    scale: tuple[float, float],
    rotate: bool,
    object_colours: Tensor | None = None,
    places: Tensor | None = None,
) -> Tensor:
    """``image`` (N, 3, 32, 32) with one object of class ``labels`` (N,) painted over it, at a random
    position, radius in ``scale`` pixels and (if ``rotate``) angle, in a colour far from ``base``."""
    n = len(labels)
    ys, xs = torch.meshgrid(torch.arange(SIZE) + 0.5, torch.arange(SIZE) + 0.5, indexing="ij")  # (H, W)
    # The object: pixel positions in its own frame, (u, v) = R(−θ)(p − c) / s.
    radius = _uniform(g, n, low=scale[0], high=scale[1])
    margin = 0.7 * radius
    if places is None:
        cx = margin + (SIZE - 2 * margin) * _uniform(g, n)
        cy = margin + (SIZE - 2 * margin) * _uniform(g, n)
    else:
        cx, cy = (margin + (SIZE - 2 * margin) * places[:, i] for i in (0, 1))
    theta = _uniform(g, n, high=2 * math.pi) if rotate else torch.zeros(n)
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    ox, oy = xs - cx[:, None, None], ys - cy[:, None, None]
    s = radius[:, None, None]
    u, v = (cos * ox + sin * oy) / s, (-sin * ox + cos * oy) / s  # (N, H, W)
    sdf = torch.empty(n, SIZE, SIZE)
    for c, shape in enumerate(SHAPES.values()):
        idx = labels == c
        if idx.any():
            sdf[idx] = shape(u[idx], v[idx])
    coverage = (0.5 + sdf * s).clamp(0, 1)[:, None]  # distance in pixels → anti-aliased edge
    # Its colour: each channel 0.35 to 0.65 away from the background's (mod 1), never faint.
    if object_colours is None:
        colour = (base + _uniform(g, n, 3, 1, 1, low=0.35, high=0.65)) % 1.0
    else:
        colour = object_colours[:, :, None, None]
    return image + coverage * (colour - image)


# ---- a plainer variant, for generative models at CPU scale ------------------------------------------


@dataclass(frozen=True)
class PlainShapes:
    """One object on a flat background of a random colour: no gradient, no clutter, and by default
    no rotation, larger objects and four classes, drawn at 32×32 and averaged down to ``size``.

    A toy diffusion model on a CPU learns these in minutes, where the full set's clutter and
    rotations need far longer. The pixel noise (σ = 0.04 at 32×32) stays, so a classifier trained
    on them is not thrown by a sample's grain. Images are fixed by (seed, split) and the settings.
    """

    classes: tuple[str, ...] = ("disk", "square", "triangle", "plus")
    size: int = 16  # a divisor of 32: the side after averaging (32/size)² blocks of pixels
    scale: tuple[float, float] = (8.0, 11.0)  # the object's radius in 32×32 pixels (full set: 5.5 to 11)
    rotate: bool = False
    noise: float = 0.04

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def validate(self) -> None:
        unknown = [c for c in self.classes if c not in SHAPES]
        if unknown or len(set(self.classes)) != len(self.classes) or len(self.classes) < 2:
            raise ValueError(
                f"classes must be two or more distinct shapes of {', '.join(CLASSES)}; got {self.classes}"
            )
        if self.size < 1 or SIZE % self.size:
            raise ValueError(f"size must divide {SIZE} (32, 16, 8, 4, 2, 1), got {self.size}")
        if not 1.0 <= self.scale[0] <= self.scale[1] <= SIZE / 2:
            raise ValueError(
                f"scale (radius in pixels) must satisfy 1 <= low <= high <= 16, got {self.scale}"
            )
        if not 0.0 <= self.noise < 1.0:
            raise ValueError(f"noise must be in [0, 1), got {self.noise}")

    def generate(self, n: int, seed: int, split: str = "train") -> tuple[Tensor, Tensor]:
        """``n`` images (n, 3, size, size) uint8 and labels (n,) int64 in 0..len(classes)−1 (indices
        into ``classes``), balanced and shuffled, fixed by (seed, split)."""
        self.validate()
        g = torch_generator(seed, "plain-shapes", split, self.classes)
        labels = torch.arange(n) % self.num_classes
        labels = labels[torch.randperm(n, generator=g)]
        shape_ids = torch.tensor([CLASSES.index(c) for c in self.classes])[labels]
        images = torch.empty(n, 3, self.size, self.size, dtype=torch.uint8)
        for start in range(0, n, CHUNK):
            ids = shape_ids[start : start + CHUNK]
            base = _uniform(g, len(ids), 3, 1, 1)
            image = _paint_object(base.expand(-1, -1, SIZE, SIZE), base, ids, g, self.scale, self.rotate)
            image = (image + self.noise * torch.randn(image.shape, generator=g)).clamp(0, 1)
            image = torch.nn.functional.avg_pool2d(image, SIZE // self.size)  # (B, 3, size, size)
            images[start : start + CHUNK] = (image * 255).round().to(torch.uint8)
        return images, labels


def generate_shapes(n: int, seed: int, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 3, 32, 32) uint8 and labels (n,) int64, balanced over the ten classes
    in a shuffled order, fixed by (seed, split)."""
    g = torch_generator(seed, "shapes", split)
    labels = torch.arange(n) % len(CLASSES)
    labels = labels[torch.randperm(n, generator=g)]
    images = np.empty((n, 3, SIZE, SIZE), dtype=np.uint8)
    for start in range(0, n, CHUNK):
        chunk = _draw(labels[start : start + CHUNK], g)
        images[start : start + CHUNK] = (chunk * 255).round().to(torch.uint8).numpy()
    return images, labels.numpy()


# ---- the set, cached ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSet:
    x_train: Tensor  # (N, 3, 32, 32) uint8
    y_train: Tensor  # (N,) int64
    x_test: Tensor
    y_test: Tensor
    classes: tuple[str, ...]
    source: str  # where the images came from, for the log and the card

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def load_shapes(n_train: int, n_test: int, seed: int, cache_dir: Path | None = None) -> ImageSet:
    """The procedural set; read from ``cache_dir`` if drawn there before, else drawn and saved."""
    if n_train < len(CLASSES) or n_test < len(CLASSES):
        raise ValueError(f"need at least {len(CLASSES)} train and test images, got {n_train} and {n_test}")
    path = cache_dir / f"shapes-v{CACHE_VERSION}-seed{seed}-{n_train}-{n_test}.npz" if cache_dir else None
    arrays = _read_cache(path) if path is not None else None
    if arrays is None:
        x_train, y_train = generate_shapes(n_train, seed, "train")
        x_test, y_test = generate_shapes(n_test, seed, "test")
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        if path is not None:
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            atomic_write_bytes(path, lambda f: f.write(buffer.getvalue()))
    return ImageSet(
        *(torch.from_numpy(arrays[k]) for k in ("x_train", "y_train", "x_test", "y_test")),
        classes=CLASSES,
        source=f"procedural shapes (seed {seed})",
    )


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """Our own cache, or None if absent or unreadable (then it is drawn again and rewritten)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError):
        return None


def load_image_set(
    data_dir: Path | None, n_train: int, n_test: int, seed: int, cache_dir: Path | None = None
) -> ImageSet:
    """CIFAR-10 from ``data_dir`` when given (``n_train``/``n_test`` images drawn from it by
    ``seed``; all of it when they exceed its size), else the procedural shapes."""
    if data_dir is None:
        return load_shapes(n_train, n_test, seed, cache_dir)
    from landmarks.data.cifar import CLASSES as CIFAR_CLASSES
    from landmarks.data.cifar import load_cifar10

    data = load_cifar10(data_dir)
    g = torch_generator(seed, "cifar-subset")
    pick_train = torch.randperm(len(data.y_train), generator=g)[:n_train]
    pick_test = torch.randperm(len(data.y_test), generator=g)[:n_test]
    return ImageSet(
        torch.from_numpy(data.x_train)[pick_train],
        torch.from_numpy(data.y_train).long()[pick_train],
        torch.from_numpy(data.x_test)[pick_test],
        torch.from_numpy(data.y_test).long()[pick_test],
        classes=CIFAR_CLASSES,
        source=f"CIFAR-10 from {data_dir}",
    )


def standardize(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """uint8 (N, 3, H, W) → float32, per channel (x/255 − mean) / std; mean, std (3,)."""
    return (images.float() / 255 - mean[:, None, None]) / std[:, None, None]


# ---- what a reader wants to see and know ---------------------------------------------------------


def linear_probe_accuracy(data: ImageSet, n_train: int = 4000, steps: int = 100, seed: int = 0) -> float:
    """Test accuracy of multinomial logistic regression on standardized raw pixels (full-batch
    L-BFGS with a little weight decay, on the first ``n_train`` training images): how far a
    linear model gets.

    On the procedural set it stays near chance (0.1) whatever the budget: the object's colour is
    spread symmetrically around the background's, so every class has the same mean image, and
    a linear score has the same expected value for every class.
    """
    x_train = data.x_train[:n_train].float().flatten(1) / 255
    y_train = data.y_train[:n_train]
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train = (x_train - mean) / std
    x_test = (data.x_test.float().flatten(1) / 255 - mean) / std
    g = torch_generator(seed, "linear-probe")
    weight = (0.01 * torch.randn(x_train.shape[1], data.num_classes, generator=g)).requires_grad_()
    bias = torch.zeros(data.num_classes, requires_grad=True)
    opt = torch.optim.LBFGS(
        [weight, bias], lr=1, max_iter=steps, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x_train @ weight + bias, y_train)
        loss = loss + 1e-3 * weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((x_test @ weight + bias).argmax(1) == data.y_test).float().mean())


def plot_class_grid(data: ImageSet, per_class: int = 8):  # type: ignore[no-untyped-def]
    """A figure: ``per_class`` training images of each class, one row per class."""
    from landmarks.plots import plt

    k = data.num_classes
    fig, axes = plt.subplots(k, per_class, figsize=(per_class * 0.8, k * 0.85))
    for c in range(k):
        picks = torch.nonzero(data.y_train == c).flatten()[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(picks):
                ax.imshow(data.x_train[picks[j]].permute(1, 2, 0).numpy())
        axes[c, 0].set_title(data.classes[c], fontsize=8, loc="left")
    fig.tight_layout(pad=0.2)
    return fig
