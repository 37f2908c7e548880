"""A small KL-regularized autoencoder: the perceptual compression stage of latent diffusion.

Rombach et al. (2022), "High-Resolution Image Synthesis with Latent Diffusion Models", Sec. 3.1
and Appendix G; Kingma and Welling (2014), "Auto-Encoding Variational Bayes", for the Gaussian
posterior, the reparameterization and the closed-form KL.

An encoder E maps an image x (B, C, H, W) to a diagonal Gaussian over latents of shape
(B, c, H/f, W/f), f = 2^m the downsampling factor; a decoder D maps a latent back to an image.
The diffusion model then works on z, f² times fewer positions than pixels:

    q(z | x) = N(μ(x), diag σ²(x))                 E outputs μ and log σ² (clamped to [−30, 20])
    z = μ + σ ⊙ ε,  ε ~ N(0, I)                    the reparameterization trick
    x̃ = D(z)
    L = ‖x − x̃‖₁ + λ_KL · KL(q(z | x) ‖ N(0, I))    λ_KL small (LDM: 1e-6), "a slight KL penalty"
    KL = ½ Σ (μ² + σ² − 1 − log σ²)                 summed over the latent, per image

LDM adds a perceptual (LPIPS) and a patch-adversarial loss to the reconstruction; this toy keeps
the L1 error. Its latents have no set scale, so before diffusion LDM multiplies them
by a ``scale_factor`` = 1 / std(z) measured on a first batch (Sec. 4.3.2 and Appendix G, "rescale
the latent space to unit variance"): ``latent_scale_factor``.

Layout (LDM's ``Encoder``/``Decoder`` with fewer levels and no attention): conv_in, per level
``num_res_blocks`` ResBlocks and a stride-2 convolution (m of them), a middle ResBlock pair,
GroupNorm, SiLU, conv_out to 2c channels (μ; log σ²); a 1×1 ``quant_conv`` after the encoder and
``post_quant_conv`` before the decoder, as LDM has. The decoder mirrors it with nearest-neighbour
upsampling.

Public API::

    AutoencoderConfig(in_channels=3, latent_channels=4, factor=4, channels=32, channel_mult=None,
                      num_res_blocks=1, norm_groups=8)
    KLAutoencoder(config=None, **overrides)
        .encode(x) -> DiagonalGaussian;  .decode(z) -> x̃;  (x, generator=None, sample=True) -> (x̃, posterior)
        .loss(x, kl_weight=1e-6, generator=None) -> (loss, reconstruction, kl)
    DiagonalGaussian(moments)  .mean, .logvar, .std, .sample(generator), .mode(), .kl()
    latent_scale_factor(latents) -> 1 / std
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landmarks.nn.diffusion import DiffusionInputError, normal_noise
from landmarks.nn.unet import Downsample, ResBlock, Upsample

__all__ = [
    "AutoencoderConfig",
    "Decoder",
    "DiagonalGaussian",
    "Encoder",
    "KLAutoencoder",
    "latent_scale_factor",
]


class DiagonalGaussian:
    """q(z | x) = N(μ, diag σ²), from the encoder's (B, 2c, h, w) output split into μ and log σ²."""

    def __init__(self, moments: Tensor) -> None:
        self.mean, logvar = moments.chunk(2, dim=1)  # (B, c, h, w) each
        self.logvar = logvar.clamp(-30.0, 20.0)  # LDM's clamp: keeps exp finite
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """z = μ + σ ⊙ ε: a draw that gradients flow through to μ and σ (reparameterization)."""
        eps = normal_noise(self.mean.shape, generator, self.mean.dtype, self.mean.device)
        return self.mean + self.std * eps

    def mode(self) -> Tensor:
        return self.mean

    def kl(self) -> Tensor:
        """KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ (μ² + σ² − 1 − log σ²), summed over (c, h, w): (B,)."""
        return 0.5 * (self.mean.pow(2) + self.var - 1.0 - self.logvar).sum(dim=(1, 2, 3))


def latent_scale_factor(latents: Tensor) -> float:
    """1 / std(z) over every element: the factor that gives the latents unit variance before
    diffusion (LDM's ``scale_by_std``). Multiply by it after encoding, divide before decoding."""
    std = latents.detach().float().flatten().std()
    if not torch.isfinite(std) or std <= 0:
        raise ValueError(f"latents have standard deviation {float(std)}: cannot rescale them")
    return float(1.0 / std)


@dataclass(frozen=True)
class AutoencoderConfig:
    in_channels: int = 3
    latent_channels: int = 4  # c
    factor: int = 4  # f: latents are (H/f, W/f); a power of two
    channels: int = 32  # the width at full resolution
    channel_mult: tuple[int, ...] | None = None  # per level (log2 f + 1 of them); None: 1, 2, 2, …
    num_res_blocks: int = 1
    norm_groups: int = 8

    @property
    def levels(self) -> int:
        return self.factor.bit_length()  # log2(f) + 1

    @property
    def widths(self) -> tuple[int, ...]:
        mult = self.channel_mult or (1, *([2] * (self.levels - 1)))
        return tuple(self.channels * m for m in mult)

    def validate(self) -> None:
        if self.factor < 1 or self.factor & (self.factor - 1):
            raise DiffusionInputError(
                f"factor={self.factor}: the downsampling factor must be a power of two (1, 2, 4, 8)"
            )
        if self.channel_mult is not None and len(self.channel_mult) != self.levels:
            raise DiffusionInputError(
                f"channel_mult={self.channel_mult} has {len(self.channel_mult)} levels; factor={self.factor} "
                f"needs {self.levels}"
            )
        for name in ("in_channels", "latent_channels", "channels", "num_res_blocks", "norm_groups"):
            if getattr(self, name) < 1:
                raise DiffusionInputError(f"{name} must be >= 1, got {getattr(self, name)}")
        bad = [w for w in self.widths if w % self.norm_groups]
        if bad:
            raise DiffusionInputError(f"widths {bad} are not divisible by norm_groups={self.norm_groups}")


class Encoder(nn.Module):
    """x (B, C, H, W) → (B, 2c, H/f, W/f): the moments μ; log σ²."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        widths, g = cfg.widths, cfg.norm_groups
        self.conv_in = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)
        blocks: list[nn.Module] = []
        prev = widths[0]
        for i, w in enumerate(widths):
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(prev, w, groups=g))
                prev = w
            if i < len(widths) - 1:
                blocks.append(Downsample(w))  # (H, W) → (H/2, W/2)
        self.down = nn.Sequential(*blocks)
        self.mid = nn.Sequential(ResBlock(prev, prev, groups=g), ResBlock(prev, prev, groups=g))
        self.norm_out = nn.GroupNorm(g, prev)
        self.conv_out = nn.Conv2d(prev, 2 * cfg.latent_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.mid(self.down(self.conv_in(x)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """z (B, c, H/f, W/f) → x̃ (B, C, H, W)."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        widths, g = cfg.widths, cfg.norm_groups
        prev = widths[-1]
        self.conv_in = nn.Conv2d(cfg.latent_channels, prev, 3, padding=1)
        self.mid = nn.Sequential(ResBlock(prev, prev, groups=g), ResBlock(prev, prev, groups=g))
        blocks: list[nn.Module] = []
        for i in reversed(range(len(widths))):
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResBlock(prev, widths[i], groups=g))
                prev = widths[i]
            if i > 0:
                blocks.append(Upsample(prev))  # (h, w) → (2h, 2w)
        self.up = nn.Sequential(*blocks)
        self.norm_out = nn.GroupNorm(g, prev)
        self.conv_out = nn.Conv2d(prev, cfg.in_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.up(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))


class KLAutoencoder(nn.Module):
    """E, D and the 1×1 convolutions around the latent (LDM's ``AutoencoderKL``)."""

    def __init__(self, config: AutoencoderConfig | None = None, **overrides: object) -> None:
        super().__init__()
        cfg = replace(config or AutoencoderConfig(), **overrides)  # type: ignore[arg-type]
        cfg.validate()
        self.config = cfg
        c = cfg.latent_channels
        self.encoder = Encoder(cfg)
        self.quant_conv = nn.Conv2d(2 * c, 2 * c, 1)
        self.post_quant_conv = nn.Conv2d(c, c, 1)
        self.decoder = Decoder(cfg)

    def encode(self, x: Tensor) -> DiagonalGaussian:
        f = self.config.factor
        if x.shape[-1] % f or x.shape[-2] % f:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not divisible by the factor f={f}")
        return DiagonalGaussian(self.quant_conv(self.encoder(x)))

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(self.post_quant_conv(z))

    def forward(
        self, x: Tensor, generator: torch.Generator | None = None, sample: bool = True
    ) -> tuple[Tensor, DiagonalGaussian]:
        """(x̃, q(z | x)): the reconstruction from a sampled z (or from μ, ``sample=False``)."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample else posterior.mode()
        return self.decode(z), posterior

    def loss(
        self, x: Tensor, kl_weight: float = 1e-6, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(L, reconstruction, KL): L = Σ|x − x̃| + λ_KL · KL, each summed per image, batch-averaged.

        Both terms are per image sums, as LDM weighs them, so λ_KL keeps its meaning across sizes.
        """
        recon, posterior = self(x, generator)
        reconstruction = (x - recon).abs().sum(dim=(1, 2, 3)).mean()
        kl = posterior.kl().mean()
        return reconstruction + kl_weight * kl, reconstruction, kl
