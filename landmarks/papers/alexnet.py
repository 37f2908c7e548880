"""ImageNet Classification with Deep Convolutional Neural Networks (Krizhevsky, Sutskever, Hinton, 2012).

Five convolutional layers and three fully connected ones, 60 million parameters, trained on two
GPUs: the network that started the deep-learning era by winning ILSVRC-2012 with 15.3 % top-5
error against 26.2 %. The paper's ingredients, in its order, are all here:

- ReLU nonlinearities, f(x) = max(0, x) (Sec. 3.1): non-saturating, so a deep net trains several
  times faster than with tanh (Fig. 1: six times faster to 25 % training error on CIFAR-10);
- training on two GPUs (Sec. 3.2): the kernels of layers 2, 4 and 5 see only the half of the
  previous layer on their own GPU, which in one process is a grouped convolution (groups = 2);
- local response normalization (Sec. 3.3), Eq. 1:

      b^i_{x,y} = a^i_{x,y} / (k + α Σ_{j = max(0, i−n/2)}^{min(N−1, i+n/2)} (a^j_{x,y})²)^β,
      k = 2, n = 5, α = 10⁻⁴, β = 0.75

  (written here as a 1×1 convolution of a² with a banded matrix: one matmul over channels);
- overlapping max pooling, 3×3 windows with stride 2 (Sec. 3.4);
- data augmentation (Sec. 4.1): random crops and horizontal flips, and PCA colour jitter
  (``landmarks.data.augment``);
- dropout with p = 0.5 in the first two fully connected layers (Sec. 4.2).

``alexnet()`` is the network as torchvision builds it (one GPU's worth of kernels from the
"one weird trick" paper, no LRN), so torchvision's state dicts load as they are;
``alexnet_2012()`` is the paper's own two-GPU architecture of Fig. 2. ``reproduce`` trains a
four-layer ConvNet for 32×32 images, as in the paper's Fig. 1, on the procedural shapes set
(``landmarks.data.shapes``): with ReLU and with tanh on 10,000 images, then on 2,000 images
without regularization, with dropout and with augmentation, one ingredient at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.engine import top1_accuracy
from landmarks.nn.counting import count_macs, count_params
from landmarks.nn.interop import load_exact
from landmarks.registry import Card, ClaimSpec

if TYPE_CHECKING:
    from landmarks.engine import History, Run

__all__ = [
    "CARD",
    "PRESETS",
    "AlexNet",
    "AlexNet2012",
    "Config",
    "LocalResponseNorm",
    "SmallAlexNet",
    "alexnet",
    "alexnet_2012",
    "from_torchvision",
    "reproduce",
    "steps_to_error",
]

USES_DATA_DIR = True  # --data-dir: CIFAR-10's binary batches instead of the procedural shapes

CARD = Card(
    citation=(
        "Alex Krizhevsky, Ilya Sutskever, Geoffrey E. Hinton. ImageNet Classification with Deep "
        "Convolutional Neural Networks. NeurIPS 2012."
    ),
    takeaways=[
        "A big convolutional network trained on a big labelled set with GPUs beats hand-made "
        "features by a wide margin (ILSVRC-2012 top-5 error 15.3 % against 26.2 %).",
        "ReLUs do not saturate, so gradient descent moves much faster than with tanh units (Fig. 1).",
        "Overfitting is the enemy of a 60-million-parameter net: label-preserving augmentation "
        "(crops, flips, PCA colour jitter) and dropout in the fully connected layers hold it off.",
    ],
    claims=[
        ClaimSpec(
            "ReLU trains faster than tanh: steps for tanh to reach the target training error "
            "over steps for ReLU (same net and recipe; training error averaged over a window)",
            ">= 2",
            "Fig. 1: a 4-layer CNN with ReLUs reaches 25 % training error on CIFAR-10 six times "
            "faster than with tanh",
        ),
        ClaimSpec(
            "dropout shrinks the train–test gap: (train − test accuracy) with dropout minus "
            "without, at the end of training; no number if dropout lowered test accuracy (a net that "
            "fits worse has a smaller gap too)",
            "< 0",
            "Sec. 4.2: without dropout the network overfits substantially; dropout roughly "
            "doubles the steps to converge",
        ),
        ClaimSpec(
            "augmentation (crops, flips, PCA colour jitter) raises test accuracy: with minus "
            "without, at the end of training",
            "> 0",
            "Sec. 4.1: without augmentation the network overfits substantially; the colour "
            "jitter alone cuts top-1 error by over 1 %",
        ),
        ClaimSpec(
            "the 2012 two-GPU architecture (Fig. 2) has about 60 million parameters (millions, counted)",
            "in [60, 62]",
            "Sec. 4: 60 million parameters",
        ),
    ],
    keeps=[
        "every architectural ingredient of Sec. 3: ReLU, LRN with the paper's k, n, α, β, "
        "overlapping 3×3/2 max pooling, dropout 0.5 before the first two fully connected layers, "
        "five convolutional and three fully connected layers",
        "the paper's recipe: SGD with momentum 0.9, weight decay 5·10⁻⁴, learning rate 0.01, batch 128",
        "the augmentations of Sec. 4.1 (random translations by cropping, horizontal flips, PCA "
        "colour jitter with σ = 0.1) as batched tensor ops",
        "the full-size networks: the 2012 two-GPU layout (groups = 2) and torchvision's, which "
        "loads torchvision's state dicts with identical logits",
    ],
    shrinks=[
        "ImageNet (1.2 M images of 224², 1000 classes) → 10,000 procedural 32×32 images of 10 "
        "shape classes (or CIFAR-10 with --data-dir); the regularization runs train on 2,000 of "
        "them, so that a net without dropout or augmentation overfits within the budget",
        "the network of the experiments: a four-layer ConvNet like Fig. 1's (5×5, 5×5 and 3×3 "
        "convolutions with 16, 32 and 32 channels, each followed by the activation and 3×3/2 max "
        "pooling, then one fully connected layer with dropout before it; 28 k parameters, 5 M "
        "multiply-adds), not the eight-layer AlexNet; no LRN (see the notes)",
        "90 epochs → 1,200 steps of 128 for ReLU and tanh, 900 for each regularization run; no "
        "learning-rate drops",
        "crops: pad 4 and crop 32 instead of 224 of 256; no test-time ten-crop averaging",
        "Fig. 1 chose each net's learning rate to train fastest; here both use 0.01 (see the notes)",
    ],
    figures={
        "ILSVRC-2010 test top-1 / top-5 error": "37.5 % / 17.0 %",
        "ILSVRC-2012 test top-5 error (one net / 7 nets)": "18.2 % / 15.3 %",
        "parameters / neurons": "60 million / 650,000",
        "Fig. 1, CIFAR-10 epochs to 25 % training error": "about 6 (ReLU) vs 36 (tanh)",
        "torchvision alexnet parameters / multiply-adds at 224²": "61.1 M / 0.71 G",
    },
    notes=(
        "Training error in Fig. 1 is the error on the training batches as training goes; here "
        "it is the mean error of the last 50 batches (in train mode), and the target is the "
        "paper's 25 %. If tanh had not reached the target when training stopped, all that is "
        "known is that it needed more than the steps run, and the ratio reported is that lower "
        "bound. At the learning rate both nets share (0.01, the paper's), ReLU reaches 25 % in "
        "550 to 670 steps and tanh in 890 to 990 (seeds 0-2, on an Intel and an AMD host; each "
        "run's steps are in its result, ``runs``): ReLU is faster, by 1.3 to 1.6 times, not the "
        "2 times the claim asks (the paper: 6 times). Fig. 1 "
        "gave each net its own fastest learning rate; on this data that favours tanh: at 0.03 "
        "tanh reached 25 % in about 550 steps and ReLU in about 1,050 (seed 0, one run each), so "
        "best against best the two are about even here. The paper's net, inputs (raw pixels "
        "minus the mean) and data (CIFAR-10) differ from ours. The colour symmetry of the "
        "procedural set (an object as often darker as lighter than its background) is not the "
        "cause: in a trial with every object lighter than its background, ReLU reached 25 % in "
        "217 steps and tanh in 364, the same 1.7 times. "
        "The claim stays not reproduced. "
        "LRN is built and checked (``LocalResponseNorm``, equal to torch's) and is part of the "
        "full-size 2012 net, but the small net leaves it out by default (``--set lrn=true`` puts "
        "it back): on standardized inputs the α-term is negligible and LRN only scales by "
        "2^-0.75, it doubled the time per step, and an eight-layer variant with LRN and two "
        "hidden fully connected layers sat at chance for about 400 steps with ReLU. "
        "Claim 2 is gated since 2026-11-29: until then a smaller gap counted whatever it came "
        "from, and on seed 2 dropout lowered test accuracy (0.663 → 0.641) while it shrank the "
        "gap by lowering training accuracy (0.998 → 0.865); the paper's point is that without "
        "dropout the net overfits, not that it fits worse with it. "
        "The train–test gap uses the 2,000 training images of the regularization runs (without "
        "augmentation) and 2,000 held-out images, both in eval mode. A linear classifier on the "
        "pixels of the procedural set stays near chance (``linear_probe_accuracy``; recorded in "
        "the results): the class is the shape of an object at any place, size, angle and colour, "
        "and every class has the same mean image. Convolutions run channels-last: a training "
        "step of 128 images took 22.8 ms against 32.1 ms contiguous (1.40 times faster) and "
        "inference 7.1 against 20.9 ms (``landmarks bench vision``, 2 threads)."
    ),
)


# ---- Sec. 3.3: local response normalization -------------------------------------------------------


class LocalResponseNorm(nn.Module):
    """Eq. 1: each activation divided by (k + α·Σ a² over n adjacent channels)^β.

    The sum over the window of channels i − n/2 … i + n/2 is a 1×1 convolution of a² with a
    banded 0/1 matrix, a single matmul over channels. torch's ``nn.LocalResponseNorm`` divides α
    by n; with α = 10⁻⁴ here it equals torch's with alpha = n·10⁻⁴ (a test checks this).
    """

    def __init__(self, channels: int, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        i = torch.arange(channels)
        band = ((i[:, None] - i[None, :]).abs() <= size // 2).float()  # (C, C): j within n/2 of i
        self.register_buffer("band", band[:, :, None, None], persistent=False)  # (C, C, 1, 1)

    def forward(self, a: Tensor) -> Tensor:
        window_sum = F.conv2d(a * a, self.band)  # Σ_j (a^j)² over the n neighbouring channels
        return a * (self.k + self.alpha * window_sum).pow(-self.beta)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


# ---- Sec. 3.5 / Fig. 2: the full-size networks ----------------------------------------------------


class AlexNet(nn.Module):
    """AlexNet as torchvision builds it (parameter names included): 64-192-384-256-256 kernels,
    no LRN, adaptive 6×6 pooling before the classifier."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # overlapping: window 3 > stride 2 (Sec. 3.4)
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _classifier(256 * 6 * 6, 4096, num_classes, dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))  # (B, 256, 6, 6)
        return self.classifier(torch.flatten(x, 1))


class AlexNet2012(nn.Module):
    """The paper's architecture (Fig. 2): 96-256-384-384-256 kernels, LRN after the first two
    layers, and the two-GPU split as groups = 2 in layers 2, 4 and 5 (Sec. 3.2: "the kernels of
    layer 3 take input from all kernel maps in layer 2", the others only from their own GPU)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4, padding=2),  # 224² → 55²
            nn.ReLU(inplace=True),
            LocalResponseNorm(96),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 27²
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),
            nn.ReLU(inplace=True),
            LocalResponseNorm(256),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 13²
            nn.Conv2d(256, 384, kernel_size=3, padding=1),  # across GPUs
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # 6²
        )
        self.classifier = _classifier(256 * 6 * 6, 4096, num_classes, dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))  # (B, 9216) → (B, classes)


def _classifier(features: int, hidden: int, num_classes: int, dropout: float) -> nn.Sequential:
    """Sec. 4.2: dropout before each of the first two fully connected layers (torchvision's order)."""
    return nn.Sequential(
        nn.Dropout(p=dropout),
        nn.Linear(features, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )


def alexnet(num_classes: int = 1000, dropout: float = 0.5) -> AlexNet:
    return AlexNet(num_classes, dropout)


def alexnet_2012(num_classes: int = 1000, dropout: float = 0.5) -> AlexNet2012:
    return AlexNet2012(num_classes, dropout)


def from_torchvision(state_dict: dict[str, Tensor]) -> AlexNet:
    """An ``AlexNet`` holding the weights of a torchvision ``alexnet`` state dict, exactly."""
    if "classifier.6.weight" not in state_dict:
        raise ValueError("not a torchvision AlexNet state dict: it has no classifier.6.weight")
    model = AlexNet(num_classes=state_dict["classifier.6.weight"].shape[0])
    return load_exact(model, state_dict, "torchvision AlexNet state dict")  # type: ignore[return-value]


# ---- the small network for 32×32 images ---------------------------------------------------------------


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class SmallAlexNet(nn.Module):
    """A four-layer ConvNet for 32×32 images, the kind of net of the paper's Fig. 1: three
    conv–activation–overlapping-pool stages (5×5, 5×5, 3×3 kernels; w, 2w, 2w channels) and a
    fully connected classifier with dropout before it (Sec. 4.2). ``lrn=True`` puts LRN after
    the first two stages' activations, as in AlexNet (see the card's notes)."""

    def __init__(
        self,
        width: int = 16,
        num_classes: int = 10,
        activation: str = "relu",
        dropout: float = 0.0,
        lrn: bool = False,
    ) -> None:
        super().__init__()
        act = ACTIVATIONS[activation]
        c1, c2, c3 = width, 2 * width, 2 * width
        norm = LocalResponseNorm if lrn else (lambda c: nn.Identity())
        self.features = nn.Sequential(
            nn.Conv2d(3, c1, 5, padding=2),
            act(),
            norm(c1),
            nn.MaxPool2d(3, 2, padding=1),  # 32² → 16², overlapping windows (Sec. 3.4)
            nn.Conv2d(c1, c2, 5, padding=2),
            act(),
            norm(c2),
            nn.MaxPool2d(3, 2, padding=1),  # 8²
            nn.Conv2d(c2, c3, 3, padding=1),
            act(),
            nn.MaxPool2d(3, 2, padding=1),  # 4²
        )
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c3 * 16, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))  # (B, 2w·16) → (B, classes)


# ---- the experiment: one ingredient at a time ------------------------------------------------------


@dataclass(frozen=True)
class Config:
    n_train: int = 10_000  # Fig. 1's ReLU-vs-tanh runs train on all of them
    n_small: int = 2_000  # the regularization runs train on these, so that overfitting shows
    n_test: int = 2_000
    width: int = 16
    lrn: bool = False  # LRN in the small net (see the card's notes)
    batch: int = 128
    fig1_steps: int = 1200  # ReLU and tanh (Fig. 1)
    steps: int = 900  # each regularization run
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dropout: float = 0.5
    crop_padding: int = 4
    jitter_sigma: float = 0.1
    target_error: float = 0.25  # Fig. 1's 25 % training error
    window: int = 50  # batches averaged into the training error
    eval_every: int = 150
    channels_last: bool = True  # faster convolutions on a CPU (see the card's speed note)

    def validate(self) -> None:
        for name in ("n_train", "n_small", "n_test", "width", "batch", "fig1_steps", "steps", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_test < 10 or not 10 <= self.n_small <= self.n_train:
            raise ValueError(
                f"need 10 <= n_small <= n_train and n_test >= 10, got n_small={self.n_small}, "
                f"n_train={self.n_train}, n_test={self.n_test}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if not 0 <= self.crop_padding < 32:
            raise ValueError(
                f"crop_padding must lie in [0, 32): a crop larger than the 32×32 image leaves nothing "
                f"of it; got {self.crop_padding}"
            )
        if self.lr <= 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0 or self.jitter_sigma < 0:
            raise ValueError("lr must be > 0, momentum in [0, 1), weight_decay and jitter_sigma >= 0")
        if not 0 < self.target_error < 1:
            raise ValueError(f"target_error must lie in (0, 1), got {self.target_error}")
        if self.eval_every < 0:
            raise ValueError(
                f"eval_every must be >= 0 (0: no evaluation during training), got {self.eval_every}"
            )


PRESETS = {
    "default": Config(),
    "quick": Config(
        n_train=200, n_small=100, n_test=100, width=4, batch=16, fig1_steps=8, steps=8, window=4, eval_every=4
    ),
}


@dataclass(frozen=True)
class RunSpec:
    activation: str
    dropout: bool
    augment: bool
    small: bool  # train on the n_small subset (the regularization runs)


# Fig. 1 compares the activations on the full training set; the regularization runs each add one
# ingredient to "relu (small set)".
RUNS = {
    "relu": RunSpec("relu", False, False, False),
    "tanh": RunSpec("tanh", False, False, False),
    "relu (small set)": RunSpec("relu", False, False, True),
    "+dropout": RunSpec("relu", True, False, True),
    "+augmentation": RunSpec("relu", False, True, True),
}


def steps_to_error(errors: list[float], target: float, window: int) -> float:
    """First step at which the mean training error of the last ``window`` batches is at or
    below ``target``; infinity if it never is."""
    if len(errors) < window:
        return math.inf
    e = torch.tensor(errors, dtype=torch.float64)
    running = e.unfold(0, window, 1).mean(1)  # running[i]: batches i … i + window − 1
    hit = torch.nonzero(running <= target)
    return float(hit[0, 0]) + window if len(hit) else math.inf


def speedup(relu_steps: float, tanh_steps: float, steps_run: int) -> float:
    """tanh's steps to the target over ReLU's. If tanh never got there, all that is known is
    that it needed more than the steps run: the ratio returned is that lower bound."""
    if math.isinf(relu_steps):
        return math.nan  # ReLU itself missed the target: nothing to compare
    return (tanh_steps if math.isfinite(tanh_steps) else steps_run) / relu_steps


def reproduce(cfg: Config, run: Run) -> None:
    from landmarks.data.augment import pca_colour_jitter, random_crop, random_flip, rgb_pca
    from landmarks.data.shapes import linear_probe_accuracy, load_image_set, plot_class_grid, standardize
    from landmarks.engine import fit
    from landmarks.engine.seeding import derive_seed

    cfg.validate()
    data = load_image_set(run.data_dir, cfg.n_train, cfg.n_test, run.seed, cache_dir=run.out / "data")
    run.log(f"{data.source}: {len(data.y_train)} training and {len(data.y_test)} test images")
    train01 = data.x_train.float() / 255  # (N, 3, 32, 32) in [0, 1]
    y_train = data.y_train
    mean, std = train01.mean((0, 2, 3)), train01.std((0, 2, 3))
    variances, components = rgb_pca(train01)
    magnitudes = variances.clamp(min=0).sqrt()  # λ_i as standard deviations along p_i (see augment)
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    x_test = standardize(data.x_test, mean, std).to(run.device, memory_format=layout)
    y_test = data.y_test.to(run.device)
    n_small = min(cfg.n_small, len(y_train))
    x_seen = standardize(data.x_train[:n_small], mean, std).to(run.device, memory_format=layout)
    y_seen = y_train[:n_small].to(run.device)  # training images of every run, for the gap

    def loss_fn(model: nn.Module, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        x, y = batch
        logits = model(x)
        return F.cross_entropy(logits, y), {"error": (logits.argmax(1) != y).float().mean()}

    def eval_fn(model: nn.Module) -> dict[str, float]:
        return {"test_accuracy": top1_accuracy(model, x_test, y_test)}

    histories: dict[str, History] = {}
    final: dict[str, dict[str, float]] = {}
    models: dict[str, nn.Module] = {}
    for name, spec in RUNS.items():
        pool = n_small if spec.small else len(y_train)
        steps = cfg.steps if spec.small else cfg.fig1_steps

        def batch_fn(step: int, spec: RunSpec = spec, pool: int = pool) -> tuple[Tensor, Tensor]:
            g = run.generator("batch", pool, step)  # the same images in the same order for runs alike
            idx = torch.randint(pool, (cfg.batch,), generator=g)
            x = train01[idx]
            if spec.augment:
                x = random_crop(x, cfg.crop_padding, g)
                x = random_flip(x, g)
                x = pca_colour_jitter(x, magnitudes, components, cfg.jitter_sigma, g)
            x = (x - mean[:, None, None]) / std[:, None, None]
            return x.to(run.device, memory_format=layout), y_train[idx].to(run.device)

        torch.manual_seed(derive_seed(run.seed, run.paper, "init"))  # the same initial weights
        model = SmallAlexNet(
            cfg.width, data.num_classes, spec.activation, cfg.dropout if spec.dropout else 0.0, cfg.lrn
        ).to(run.device, memory_format=layout)
        optimizer = torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
        history = fit(
            run,
            name,
            model,
            optimizer,
            steps=steps,
            batch_fn=batch_fn,
            loss_fn=loss_fn,
            eval_fn=eval_fn,
            eval_every=cfg.eval_every,
        )
        model.eval()
        train_acc, test_acc = top1_accuracy(model, x_seen, y_seen), top1_accuracy(model, x_test, y_test)
        errors = history.extra.get("error", [])
        reached = steps_to_error(errors, cfg.target_error, cfg.window)
        final[name] = {
            "training_images": pool,
            "steps": steps,
            "train_accuracy": train_acc,
            "test_accuracy": test_acc,
            "gap": train_acc - test_acc,
            "steps_to_target_error": reached,
            "final_train_error": sum(errors[-cfg.window :]) / max(1, len(errors[-cfg.window :])),
            "seconds": round(history.seconds, 2),
        }
        histories[name], models[name] = history, model
        run.log(
            f"{name}: train {train_acc:.3f} / test {test_acc:.3f} accuracy, {cfg.target_error:.0%} "
            f"training error at step {reached}, {history.seconds:.1f} s"
        )

    linear = linear_probe_accuracy(data, n_train=min(4000, cfg.n_train), steps=100 if not run.quick else 5)
    run.log(
        f"a linear classifier on the pixels: test accuracy {linear:.3f} (chance {1 / data.num_classes:.2f})"
    )
    paper_net = alexnet_2012()
    run.metric("runs", final)
    run.metric("train_error_curves", {k: h.extra.get("error", []) for k, h in histories.items()})
    run.metric("linear_probe_test_accuracy", linear)
    run.metric("small_net_parameters", count_params(models["relu"]))
    run.metric("small_net_macs", count_macs(models["relu"], (1, 3, 32, 32)))
    run.metric("alexnet_2012_parameters", count_params(paper_net))
    run.metric("alexnet_2012_macs", count_macs(paper_net, (1, 3, 224, 224)))

    ratio = speedup(
        final["relu"]["steps_to_target_error"], final["tanh"]["steps_to_target_error"], cfg.fig1_steps
    )
    run.check(CARD.claims[0], ratio)
    # a net that fits its training set worse also shows a smaller gap: the gap counts only when
    # dropout did not cost test accuracy, which is what "without dropout it overfits" says
    dropout, plain = final["+dropout"], final["relu (small set)"]
    helps = dropout["test_accuracy"] >= plain["test_accuracy"]
    run.check(CARD.claims[1], dropout["gap"] - plain["gap"] if helps else float("nan"))
    run.check(
        CARD.claims[2], final["+augmentation"]["test_accuracy"] - final["relu (small set)"]["test_accuracy"]
    )
    run.check(CARD.claims[3], count_params(paper_net) / 1e6)

    _plot_training_error(run, histories, cfg)
    _plot_accuracies(run, final)
    run.save_figure(plot_class_grid(data), "samples", f"Training images of each class ({data.source})")
    _plot_filters(run, models["relu"])


# ---- figures ------------------------------------------------------------------------------------------


def _plot_training_error(run: Run, histories: dict[str, History], cfg: Config) -> None:
    from landmarks.plots import plt

    fig, ax = plt.subplots()
    for name in ("relu", "tanh"):
        h = histories[name]
        errors = h.extra.get("error", [])
        if len(errors) >= cfg.window:
            running = torch.tensor(errors).unfold(0, cfg.window, 1).mean(1)
            ax.plot(
                range(cfg.window, len(errors) + 1),
                running.tolist(),
                "-" if name == "relu" else "--",
                label=name,
            )
    ax.axhline(cfg.target_error, color="grey", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel(f"training error (mean of {cfg.window} batches)")
    ax.set_ylim(0, 1)
    ax.legend()
    run.save_figure(
        fig, "training_error", "Training error against steps, ReLU (solid) vs tanh (dashed), as in Fig. 1"
    )


def _plot_accuracies(run: Run, final: dict[str, dict[str, float]]) -> None:
    from landmarks.plots import plt

    fig, ax = plt.subplots()
    names = list(final)
    x = torch.arange(len(names)).float()
    ax.bar(x - 0.2, [final[n]["train_accuracy"] for n in names], 0.4, label="train")
    ax.bar(x + 0.2, [final[n]["test_accuracy"] for n in names], 0.4, label="test")
    ax.set_xticks(x.tolist(), names)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
    run.save_figure(
        fig, "accuracy", "Train and test accuracy at the end: the gap dropout and augmentation close"
    )


def _plot_filters(run: Run, model: nn.Module) -> None:
    from landmarks.plots import plt

    w = model.features[0].weight.detach().cpu()  # (C, 3, 5, 5)
    w = (w - w.amin((1, 2, 3), keepdim=True)) / (
        w.amax((1, 2, 3), keepdim=True) - w.amin((1, 2, 3), keepdim=True)
    )
    cols = 8
    rows = math.ceil(len(w) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.7, rows * 0.7))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(w):
            ax.imshow(w[i].permute(1, 2, 0).numpy(), interpolation="nearest")
    run.save_figure(fig, "filters", "First-layer filters of the ReLU net (cf. the paper's Fig. 3)")
