"""Diffusion, written out: noise schedules, forward noising, the DDPM and DDIM samplers and
classifier-free guidance, shared by ``latent-diffusion`` and ``imagine-flash``.

Ho, Jain and Abbeel (2020), "Denoising Diffusion Probabilistic Models" (DDPM); Song, Meng and
Ermon (2021), "Denoising Diffusion Implicit Models" (DDIM); Ho and Salimans (2021),
"Classifier-Free Diffusion Guidance"; Nichol and Dhariwal (2021), "Improved Denoising Diffusion
Probabilistic Models" (the cosine schedule, sampling on a sub-sequence of the steps); Salimans
and Ho (2022), "Progressive Distillation" (v-prediction); Lin et al. (2024), "Common Diffusion
Noise Schedules and Sample Steps are Flawed" (the names of the step spacings, Table 2).

The forward process adds Gaussian noise in T steps with variances β_0..β_{T−1} (the schedule).
With α_t = 1 − β_t and ᾱ_t = Π_{s≤t} α_s (``alphas_cumprod``), any step is one draw away from
the data (DDPM Eq. 4):

    q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)        x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε,  ε ~ N(0, I)

A network trained with the simple loss ‖ε − ε_θ(x_t, t)‖² (Eq. 14) predicts the noise; one may
instead predict x_0 itself or the velocity v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 (Salimans and Ho Sec. 4).
Each of the three determines the other two given x_t:

    from ε̂:  x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t
    from x̂_0: ε̂ = (x_t − √ᾱ_t x̂_0) / √(1 − ᾱ_t)
    from v̂:  x̂_0 = √ᾱ_t x_t − √(1 − ᾱ_t) v̂,    ε̂ = √ᾱ_t v̂ + √(1 − ᾱ_t) x_t

Sampling walks back down a decreasing sub-sequence τ of the training steps (all T of them, or
``steps`` of them spaced as ``NoiseSchedule.timesteps`` says), from t to the next one s (−1 after
the last, where ᾱ_{−1} = 1). DDPM samples the posterior q(x_s | x_t, x̂_0) (Eqs. 6 and 7, with
β_t replaced by 1 − ᾱ_t/ᾱ_s so that a strided chain stays a Markov chain of the same marginals,
Nichol and Dhariwal Sec. 4):

    μ̃ = √ᾱ_s (1 − ᾱ_t/ᾱ_s) / (1 − ᾱ_t) · x̂_0 + √(ᾱ_t/ᾱ_s) (1 − ᾱ_s) / (1 − ᾱ_t) · x_t
    β̃ = (1 − ᾱ_s) / (1 − ᾱ_t) · (1 − ᾱ_t/ᾱ_s)          x_s = μ̃ + √β̃ z   ("fixed_small")

DDIM takes the same marginals with a non-Markovian process whose noise η sets (DDIM Eqs. 12, 16):

    σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s)
    x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s − σ²) ε̂ + σ z

η = 0 is deterministic (an ODE solver; few steps suffice), η = 1 has DDPM's variance.

Classifier-free guidance trains one network both with the condition c and, at random, with a
null condition ∅, and samples with the extrapolation (Ho and Salimans Eq. 6, in the convention
where w = 1 is the plain conditional model and w = 0 the unconditional one):

    ε̃ = ε_θ(x_t, ∅) + w (ε_θ(x_t, c) − ε_θ(x_t, ∅))

The samplers run both branches in one forward call, the null half of the batch first.

Parity. The schedules, ``add_noise``, the timesteps and single steps equal diffusers'
``DDPMScheduler`` and ``DDIMScheduler`` within 1e-6 in float64 (tests/test_diffusion.py). Where
this module differs, on purpose:

1. Tables are float64 (diffusers builds them in float32), cast to the sample's dtype when used.
2. DDIM steps to the next timestep of its schedule; diffusers always steps back by T // steps.
   The two agree for "leading" spacing, and for "trailing" when steps divide T; never for
   "linspace", whose stride is (T − 1)/(steps − 1).
3. "trailing" spacing always gives ``steps`` timesteps (numpy's ``arange`` gives diffusers one
   more, a −1, for some step counts: 62 of 1..1000 at T = 1000).
4. x̂_0 is clipped only if asked (``clip_x0``; diffusers clips to [−1, 1] by default, wrong for
   latents), and DDIM then re-derives ε̂ from the clipped x̂_0 (diffusers'
   ``use_clipped_model_output=True``).
5. No dynamic thresholding, learned variances or zero-terminal-SNR rescaling.

Public API::

    NoiseSchedule(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                  prediction_type="epsilon")
        .betas, .alphas, .alphas_cumprod       (T,) float64
        .alpha_bar(t)                          ᾱ_t, and 1 at t = −1
        .add_noise(x0, noise, t)               x_t
        .velocity(x0, noise, t)                v
        .target(x0, noise, t)                  what the network learns: ε, x_0 or v
        .split_prediction(output, x_t, t)      (x̂_0, ε̂) from the network's output
        .timesteps(steps, spacing="leading", steps_offset=0)
    diffusion_loss(model, schedule, x0, cond=None, *, generator=None, t=None, noise=None)
    ddpm_step(schedule, model_output, t, x_t, t_prev=None, *, noise=None, generator=None, clip_x0=None)
    ddim_step(schedule, model_output, t, x_t, t_prev, *, eta=0.0, noise=None, generator=None, clip_x0=None)
    classifier_free_guidance(uncond, cond, scale)
    guided_prediction(model, x_t, t, cond, null_cond=None, guidance=1.0)
    ddpm_sample(model, schedule, shape, steps=None, guidance=1.0, generator=None, *, cond=None, ...)
    ddim_sample(model, schedule, shape, steps, guidance=1.0, generator=None, *, cond=None, eta=0.0, ...)
    check_sampling(steps, guidance, num_train_timesteps, eta=0.0)   (validate a config up front)
    normal_noise(shape, generator=None, dtype=torch.float32, device=None)

A model is called as ``model(x_t, t, cond)`` with t a (B,) long tensor. Bad input (a guidance
scale below 0, a step count of 0 or above T, an unknown schedule, spacing or prediction type)
raises ``DiffusionInputError``, a ``ValueError`` and a ``landmarks.errors.UserInputError`` (the
CLI prints its message and exits with status 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from landmarks.errors import UserInputError

__all__ = [
    "BETA_SCHEDULES",
    "PREDICTION_TYPES",
    "SPACINGS",
    "DiffusionInputError",
    "NoiseSchedule",
    "SamplerStep",
    "StepOutput",
    "check_eta",
    "check_guidance",
    "check_sampling",
    "check_steps",
    "classifier_free_guidance",
    "ddim_sample",
    "ddim_step",
    "ddpm_sample",
    "ddpm_step",
    "diffusion_loss",
    "guided_prediction",
    "normal_noise",
    "schedule_betas",
]

BetaScheduleName = Literal["linear", "scaled_linear", "squaredcos_cap_v2"]
Spacing = Literal["leading", "trailing", "linspace"]
PredictionType = Literal["epsilon", "sample", "v_prediction"]
BETA_SCHEDULES: tuple[str, ...] = get_args(BetaScheduleName)
SPACINGS: tuple[str, ...] = get_args(Spacing)
PREDICTION_TYPES: tuple[str, ...] = get_args(PredictionType)


class DiffusionInputError(UserInputError, ValueError):
    """A diffusion setting out of range: says what was given and what is allowed."""


# ---- validation, shared by the samplers and by paper configs (exit 2 before training) --------------


def check_steps(steps: Any, num_train_timesteps: int, what: str = "steps") -> int:
    """``steps`` as an int in 1..T, or ``DiffusionInputError``."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise DiffusionInputError(f"{what} must be an integer in 1..{num_train_timesteps}, got {steps!r}")
    if not 1 <= steps <= num_train_timesteps:
        raise DiffusionInputError(
            f"{what}={steps}: a sampler takes between 1 and {num_train_timesteps} steps "
            f"(the number of training timesteps)"
        )
    return steps


def check_guidance(guidance: float) -> float:
    """A classifier-free guidance scale w ≥ 0 (0: unconditional, 1: conditional, > 1: guided)."""
    if not isinstance(guidance, (int, float)) or isinstance(guidance, bool) or not math.isfinite(guidance):
        raise DiffusionInputError(f"guidance must be a finite number >= 0, got {guidance!r}")
    if guidance < 0:
        raise DiffusionInputError(
            f"guidance={guidance}: the classifier-free guidance scale must be >= 0 "
            f"(0: unconditional, 1: conditional, above 1: guided)"
        )
    return float(guidance)


def check_eta(eta: float) -> float:
    if not isinstance(eta, (int, float)) or not 0.0 <= eta <= 1.0:
        raise DiffusionInputError(
            f"eta={eta!r}: DDIM's η must be in [0, 1] (0: deterministic, 1: DDPM's noise)"
        )
    return float(eta)


def check_sampling(steps: int, guidance: float, num_train_timesteps: int, eta: float = 0.0) -> None:
    """Validate a sampler's settings before any training, so a bad config fails at once."""
    check_steps(steps, num_train_timesteps)
    check_guidance(guidance)
    check_eta(eta)


def _check_choice(what: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise DiffusionInputError(f"{what}={value!r} is not known; choose one of {', '.join(allowed)}")


# ---- β schedules --------------------------------------------------------------------------------


def _cosine_alpha_bar(u: float) -> float:
    """ᾱ(u) = cos²((u + s)/(1 + s) · π/2), s = 0.008, for u = t/T in [0, 1] (Nichol and Dhariwal Eq. 17)."""
    return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2


def schedule_betas(
    name: str,
    num_train_timesteps: int = 1000,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    max_beta: float = 0.999,
) -> Tensor:
    """β_0..β_{T−1} (float64) of one of diffusers' named schedules:

    linear             β_t evenly spaced from beta_start to beta_end (DDPM Sec. 4: 1e-4 to 0.02)
    scaled_linear      √β_t evenly spaced from √beta_start to √beta_end (LDM; its configs use
                       0.00085 to 0.012)
    squaredcos_cap_v2  β_t = min(1 − ᾱ((t+1)/T) / ᾱ(t/T), max_beta) with the cosine ᾱ above
                       (Nichol and Dhariwal Eq. 17; beta_start and beta_end are not used)
    """
    _check_choice("beta_schedule", name, BETA_SCHEDULES)
    if (
        isinstance(num_train_timesteps, bool)
        or not isinstance(num_train_timesteps, int)
        or num_train_timesteps < 1
    ):
        raise DiffusionInputError(f"num_train_timesteps must be an integer >= 1, got {num_train_timesteps!r}")
    t_count = num_train_timesteps
    if name == "squaredcos_cap_v2":
        betas = [
            min(1 - _cosine_alpha_bar((i + 1) / t_count) / _cosine_alpha_bar(i / t_count), max_beta)
            for i in range(t_count)
        ]
        return torch.tensor(betas, dtype=torch.float64)
    if not 0 < beta_start <= beta_end < 1:
        raise DiffusionInputError(
            f"beta_start={beta_start}, beta_end={beta_end}: need 0 < beta_start <= beta_end < 1"
        )
    if name == "linear":
        return torch.linspace(beta_start, beta_end, t_count, dtype=torch.float64)
    return torch.linspace(beta_start**0.5, beta_end**0.5, t_count, dtype=torch.float64) ** 2


def _per_sample(values: Tensor, like: Tensor) -> Tensor:
    """(B,) coefficients shaped (B, 1, 1, …) to broadcast over a (B, …) sample; scalars as they are."""
    return values if values.dim() == 0 else values.reshape(-1, *([1] * (like.dim() - 1)))


def normal_noise(
    shape: Sequence[int],
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """N(0, I) of ``shape`` on ``device``, drawn where the generator lives: a CPU generator on a
    GPU sample draws on the CPU and moves the numbers (as diffusers' ``randn_tensor`` does), so a
    seed gives the same noise on any device; otherwise ``torch.randn`` on the device itself."""
    device = torch.device(device or "cpu")
    if generator is not None and generator.device.type != device.type:
        return torch.randn(tuple(shape), generator=generator, dtype=dtype, device=generator.device).to(device)
    return torch.randn(tuple(shape), generator=generator, dtype=dtype, device=device)


class NoiseSchedule:
    """The forward process of T steps: β_t, α_t = 1 − β_t, ᾱ_t = Π_{s≤t} α_s, all (T,) float64.

    ``prediction_type`` says what the network predicts: "epsilon" (the noise, DDPM), "sample"
    (x_0) or "v_prediction" (v = √ᾱ_t ε − √(1 − ᾱ_t) x_0). Methods take t as an int or a (B,)
    long tensor (one step per sample) and compute in the sample's dtype and device.
    """

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_schedule: BetaScheduleName = "linear",
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        prediction_type: PredictionType = "epsilon",
    ) -> None:
        _check_choice("prediction_type", prediction_type, PREDICTION_TYPES)
        self.num_train_timesteps = num_train_timesteps
        self.beta_schedule = beta_schedule
        self.prediction_type = prediction_type
        self.betas = schedule_betas(beta_schedule, num_train_timesteps, beta_start, beta_end)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)  # ᾱ_t
        self._tables: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    def __repr__(self) -> str:
        return (
            f"NoiseSchedule(num_train_timesteps={self.num_train_timesteps}, "
            f"beta_schedule={self.beta_schedule!r}, prediction_type={self.prediction_type!r})"
        )

    def __len__(self) -> int:
        return self.num_train_timesteps

    # ---- ᾱ_t, looked up per sample --------------------------------------------------------------

    def alpha_bar(self, t: int | Tensor, like: Tensor | None = None) -> Tensor:
        """ᾱ_t for t in −1..T−1 (ᾱ_{−1} = 1: the step after the last lands on the data), in
        ``like``'s dtype and device (float64 on the CPU without it)."""
        device = like.device if like is not None else torch.device("cpu")
        dtype = like.dtype if like is not None else torch.float64
        key = (device, dtype)
        if key not in self._tables:  # ᾱ converted once per device and dtype, not per call
            self._tables[key] = self.alphas_cumprod.to(dtype=dtype).to(device)
        table = self._tables[key]
        t = torch.as_tensor(t, device=device, dtype=torch.long)
        return torch.where(t >= 0, table[t.clamp(min=0)], torch.ones((), dtype=dtype, device=device))

    def _coefficients(self, t: int | Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
        a = _per_sample(self.alpha_bar(t, like), like)
        return a.sqrt(), (1 - a).sqrt()  # √ᾱ_t, √(1 − ᾱ_t)

    # ---- the forward process and the three parameterizations ------------------------------------

    def add_noise(self, x0: Tensor, noise: Tensor, t: int | Tensor) -> Tensor:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε  (DDPM Eq. 4): a draw from q(x_t | x_0)."""
        signal, sigma = self._coefficients(t, x0)
        return signal * x0 + sigma * noise

    def velocity(self, x0: Tensor, noise: Tensor, t: int | Tensor) -> Tensor:
        """v = √ᾱ_t ε − √(1 − ᾱ_t) x_0  (Salimans and Ho Sec. 4)."""
        signal, sigma = self._coefficients(t, x0)
        return signal * noise - sigma * x0

    def target(self, x0: Tensor, noise: Tensor, t: int | Tensor) -> Tensor:
        """What the network is trained to output at (x_t, t): ε, x_0 or v."""
        if self.prediction_type == "epsilon":
            return noise
        if self.prediction_type == "sample":
            return x0
        return self.velocity(x0, noise, t)

    def split_prediction(self, model_output: Tensor, x_t: Tensor, t: int | Tensor) -> tuple[Tensor, Tensor]:
        """(x̂_0, ε̂) from the network's output, whichever of ε, x_0 or v it predicts."""
        signal, sigma = self._coefficients(t, x_t)
        if self.prediction_type == "epsilon":
            return (x_t - sigma * model_output) / signal, model_output
        if self.prediction_type == "sample":
            return model_output, (x_t - signal * model_output) / sigma
        return signal * x_t - sigma * model_output, signal * model_output + sigma * x_t

    # ---- the sub-sequence τ of timesteps a sampler visits -----------------------------------------

    def timesteps(self, steps: int, spacing: Spacing = "leading", steps_offset: int = 0) -> Tensor:
        """``steps`` training timesteps, decreasing, as diffusers' ``set_timesteps`` spaces them
        (names from Lin et al. 2024, Table 2), here with T = 1000 and 10 steps:

        leading   k·⌊T/n⌋ + steps_offset, k = 0..n−1          900, 800, …, 0
        trailing  round(T − k·T/n) − 1, k = 0..n−1           999, 899, …, 99
        linspace  round(k·(T − 1)/(n − 1)), k = 0..n−1       999, 888, …, 0

        "leading" (DDIM's and LDM's choice) never visits t = T − 1, pure noise; "trailing" does
        and so suits few-step samplers. But where ᾱ_{T−1} ≈ 0 (the cosine schedule: 6e-8 at
        T = 200) an ε-predicting model's x̂_0 = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t divides by ≈ 0 there:
        start "trailing" with ``clip_x0`` or a v- or x_0-predicting model. Rounding is
        half-to-even, as numpy's.
        """
        t_count = self.num_train_timesteps
        check_steps(steps, t_count)
        _check_choice("spacing", spacing, SPACINGS)
        if spacing == "leading":
            ts = torch.arange(steps, dtype=torch.long) * (t_count // steps) + steps_offset
            if steps_offset < 0 or int(ts[-1]) >= t_count:
                raise DiffusionInputError(
                    f"steps_offset={steps_offset} with {steps} leading steps leaves 0..{t_count - 1}"
                )
        elif spacing == "trailing":
            # numpy's arange(T, 0, −T/n) as it computes it: T + k·((T − T/n) − T)
            delta = (t_count - t_count / steps) - t_count
            return torch.round(t_count + torch.arange(steps, dtype=torch.float64) * delta).long() - 1
        else:
            # numpy's linspace(0, T − 1, n) as it computes it: k·((T − 1)/(n − 1)), the end exact
            step = (t_count - 1) / (steps - 1) if steps > 1 else 0.0
            grid = torch.arange(steps, dtype=torch.float64) * step
            grid[-1] = t_count - 1 if steps > 1 else 0.0
            ts = torch.round(grid).long()
        return ts.flip(0)  # leading and linspace are built increasing


def _previous(timesteps: Tensor) -> Tensor:
    """The step each timestep goes to: the next one in the (decreasing) schedule, −1 after the last."""
    return torch.cat([timesteps[1:], timesteps.new_full((1,), -1)])


# ---- training: the simple loss (DDPM Eq. 14) ----------------------------------------------------


def diffusion_loss(
    model: Callable[..., Tensor],
    schedule: NoiseSchedule,
    x0: Tensor,
    cond: Any = None,
    *,
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
    noise: Tensor | None = None,
) -> Tensor:
    """E_{t, x_0, ε} ‖target − model(x_t, t, c)‖²  (DDPM Eq. 14 and Algorithm 1), t ~ U{0..T−1}.

    The mean squared error over every element; ``t`` and ``noise`` may be given (tests do).
    """
    if t is None:
        where = generator.device if generator is not None else x0.device
        t = torch.randint(0, schedule.num_train_timesteps, (x0.shape[0],), generator=generator, device=where)
        t = t.to(x0.device)
    if noise is None:
        noise = normal_noise(x0.shape, generator, x0.dtype, x0.device)
    x_t = schedule.add_noise(x0, noise, t)
    return F.mse_loss(model(x_t, t, cond), schedule.target(x0, noise, t))


# ---- one step back ------------------------------------------------------------------------------


class StepOutput(NamedTuple):
    x_prev: Tensor  # x_s, the sample one step back
    x0_pred: Tensor  # x̂_0, the model's estimate of the clean sample (after clipping, if any)


def _noise_like(x: Tensor, noise: Tensor | None, generator: torch.Generator | None) -> Tensor:
    if noise is not None:
        return noise
    # drawn as diffusers draws it (torch.randn of the sample's shape, dtype and device), so one
    # seeded generator gives both the same numbers
    return normal_noise(x.shape, generator, x.dtype, x.device)


def _as_steps(t: int | Tensor, like: Tensor) -> Tensor:
    return torch.as_tensor(t, device=like.device, dtype=torch.long)


def ddpm_step(
    schedule: NoiseSchedule,
    model_output: Tensor,
    t: int | Tensor,
    x_t: Tensor,
    t_prev: int | Tensor | None = None,
    *,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    clip_x0: float | None = None,
) -> StepOutput:
    """x_s ~ q(x_s | x_t, x̂_0) = N(μ̃, β̃ I), DDPM Eqs. 6–7, from t to s = ``t_prev`` (t − 1 by
    default; the next timestep of a strided schedule, −1 after the last):

        α = ᾱ_t / ᾱ_s,  β = 1 − α
        μ̃ = √ᾱ_s β / (1 − ᾱ_t) · x̂_0 + √α (1 − ᾱ_s) / (1 − ᾱ_t) · x_t
        x_s = μ̃ + √β̃ z,  β̃ = (1 − ᾱ_s) / (1 − ᾱ_t) · β       ("fixed_small": the posterior's own)

    With ε-prediction and no clipping μ̃ is Eq. 11's (x_t − β/√(1 − ᾱ_t) ε̂)/√α. ``clip_x0`` clamps
    x̂_0 to [−clip_x0, clip_x0] first (pixels in [−1, 1]; not for latents). z is ``noise`` or drawn
    with ``generator``; it is drawn only if some sample has s ≥ 0 (β̃ = 0 at s = −1).
    """
    t = _as_steps(t, x_t)
    s = t - 1 if t_prev is None else _as_steps(t_prev, x_t)
    a_t = _per_sample(schedule.alpha_bar(t, x_t), x_t)  # ᾱ_t
    a_s = _per_sample(schedule.alpha_bar(s, x_t), x_t)  # ᾱ_s
    alpha = a_t / a_s  # α_t of the strided chain
    beta = 1 - alpha
    x0, _ = schedule.split_prediction(model_output, x_t, t)
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
    mean = (a_s.sqrt() * beta / (1 - a_t)) * x0 + (alpha.sqrt() * (1 - a_s) / (1 - a_t)) * x_t  # Eq. 7: μ̃
    if bool((s >= 0).any()):
        variance = (1 - a_s) / (1 - a_t) * beta  # Eq. 7: β̃
        mean = mean + variance.sqrt() * _noise_like(x_t, noise, generator)
    return StepOutput(mean, x0)


def ddim_step(
    schedule: NoiseSchedule,
    model_output: Tensor,
    t: int | Tensor,
    x_t: Tensor,
    t_prev: int | Tensor,
    *,
    eta: float = 0.0,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
    clip_x0: float | None = None,
) -> StepOutput:
    """x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s − σ²) ε̂ + σ z   (DDIM Eq. 12), from t to s = ``t_prev``
    (−1 after the last step, ᾱ_{−1} = 1), with

        σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s)   (Eq. 16)

    The three terms: the predicted x_0, the direction pointing to x_t, and random noise (none at
    η = 0). ``clip_x0`` clamps x̂_0 and then re-derives ε̂ = (x_t − √ᾱ_t x̂_0)/√(1 − ᾱ_t) from it, as
    ADM does (diffusers' ``use_clipped_model_output=True``); keeping the model's ε̂ beside a clipped
    x̂_0 (diffusers' default) leaves the two inconsistent, and guided samples collapse. z is
    ``noise`` or drawn with ``generator``, only when η > 0.
    """
    check_eta(eta)
    t = _as_steps(t, x_t)
    s = _as_steps(t_prev, x_t)
    a_t = _per_sample(schedule.alpha_bar(t, x_t), x_t)
    a_s = _per_sample(schedule.alpha_bar(s, x_t), x_t)
    x0, eps = schedule.split_prediction(model_output, x_t, t)
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
        eps = (x_t - a_t.sqrt() * x0) / (1 - a_t).sqrt()  # ε̂ consistent with the clipped x̂_0
    sigma = eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)).sqrt()  # Eq. 16
    x_prev = a_s.sqrt() * x0 + (1 - a_s - sigma**2).clamp(min=0).sqrt() * eps  # Eq. 12, without the noise
    if eta > 0:
        x_prev = x_prev + sigma * _noise_like(x_t, noise, generator)
    return StepOutput(x_prev, x0)


# ---- classifier-free guidance (Ho and Salimans 2021) ------------------------------------------------


def classifier_free_guidance(uncond: Tensor, cond: Tensor, scale: float) -> Tensor:
    """ε̃ = ε_∅ + w (ε_c − ε_∅): w = 0 the unconditional output, w = 1 the conditional one."""
    check_guidance(scale)
    return uncond + scale * (cond - uncond)


def guided_prediction(
    model: Callable[..., Tensor],
    x_t: Tensor,
    t: int | Tensor,
    cond: Tensor | None,
    null_cond: Tensor | None = None,
    guidance: float = 1.0,
) -> Tensor:
    """The model's output at (x_t, t), guided: one forward call on [x_t; x_t] with [∅; c] when
    0 < w ≠ 1; the conditional (w = 1) or null (w = 0) half alone otherwise.

    ``cond`` and ``null_cond`` are batched along dim 0 (labels (B,), or context tokens (B, S, D));
    without ``null_cond`` the model's own ``null_condition(cond)`` gives it. ``cond=None`` calls an
    unconditional model, ``model(x_t, t, None)``, and then w must be 1.
    """
    check_guidance(guidance)
    b = x_t.shape[0]
    t = _as_steps(t, x_t)
    t = t.expand(b) if t.dim() == 0 else t
    if cond is None:
        if guidance != 1.0:
            raise DiffusionInputError(
                f"guidance={guidance} needs a condition to guide towards; an unconditional model takes guidance=1"
            )
        return model(x_t, t, None)
    if guidance == 1.0:
        return model(x_t, t, cond)
    if null_cond is None:
        if not hasattr(model, "null_condition"):
            raise DiffusionInputError(
                "classifier-free guidance needs the null condition: pass null_cond, or give the model "
                "a null_condition(cond) method"
            )
        null_cond = model.null_condition(cond)
    if guidance == 0.0:
        return model(x_t, t, null_cond)
    out = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([null_cond, cond]))  # (2B, …)
    uncond, conditional = out.chunk(2)
    return classifier_free_guidance(uncond, conditional, guidance)


# ---- the sampling loops ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplerStep:
    """What a sampler's ``callback`` sees after each step (a trajectory for distillation)."""

    index: int  # 0 for the first step (from pure noise)
    t: int  # the timestep stepped from
    t_prev: int  # the timestep stepped to (−1: the data)
    x_t: Tensor
    model_output: Tensor  # guided
    x_prev: Tensor
    x0_pred: Tensor


def _infer_device(model: Any, cond: Any) -> torch.device:
    if isinstance(cond, Tensor):
        return cond.device
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def _sample(
    stepper: Callable[..., StepOutput],
    model: Callable[..., Tensor],
    schedule: NoiseSchedule,
    shape: Sequence[int],
    timesteps: Tensor,
    guidance: float,
    generator: torch.Generator | None,
    *,
    cond: Tensor | None,
    null_cond: Tensor | None,
    x_T: Tensor | None,
    dtype: torch.dtype,
    device: torch.device | str | None,
    callback: Callable[[SamplerStep], None] | None,
    grad: bool,
    step_kwargs: dict[str, Any],
) -> Tensor:
    """x_T, then ``stepper`` from each timestep of τ to the next, on the guided model output."""
    if x_T is not None:
        device = x_T.device
    elif device is None:
        device = _infer_device(model, cond)
    with torch.set_grad_enabled(grad):
        x = x_T if x_T is not None else normal_noise(shape, generator, dtype, device)
        for i, (t, s) in enumerate(zip(timesteps.tolist(), _previous(timesteps).tolist())):
            out = guided_prediction(model, x, t, cond, null_cond, guidance)
            step = stepper(schedule, out, t, x, s, generator=generator, **step_kwargs)
            if callback is not None:
                callback(SamplerStep(i, t, s, x, out, step.x_prev, step.x0_pred))
            x = step.x_prev
    return x


def _schedule_timesteps(
    schedule: NoiseSchedule, steps: int | None, spacing: Spacing, timesteps: Sequence[int] | Tensor | None
) -> Tensor:
    """τ: ``steps`` timesteps spaced by ``spacing``, or the explicit ``timesteps``, checked."""
    t_count = schedule.num_train_timesteps
    if timesteps is None:
        return schedule.timesteps(t_count if steps is None else steps, spacing)
    ts = torch.as_tensor(timesteps, dtype=torch.long).flatten()
    if ts.numel() == 0 or int(ts.max()) >= t_count or int(ts.min()) < 0 or bool((ts[1:] >= ts[:-1]).any()):
        raise DiffusionInputError(
            f"timesteps={ts.tolist()} must be strictly decreasing, within 0..{t_count - 1}"
        )
    if steps is not None and steps != ts.numel():
        raise DiffusionInputError(
            f"steps={steps} but {ts.numel()} timesteps were given; pass one or the other"
        )
    return ts


def ddpm_sample(
    model: Callable[..., Tensor],
    schedule: NoiseSchedule,
    shape: Sequence[int],
    steps: int | None = None,
    guidance: float = 1.0,
    generator: torch.Generator | None = None,
    *,
    cond: Tensor | None = None,
    null_cond: Tensor | None = None,
    spacing: Spacing = "leading",
    timesteps: Sequence[int] | Tensor | None = None,
    clip_x0: float | None = None,
    x_T: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    callback: Callable[[SamplerStep], None] | None = None,
    grad: bool = False,
) -> Tensor:
    """Ancestral sampling (DDPM Algorithm 2): x_T ~ N(0, I), then ``ddpm_step`` down the schedule.

    ``steps`` defaults to all T training steps; fewer take a strided chain spaced by ``spacing``
    (or the explicit decreasing ``timesteps``). ``generator`` draws x_T (unless ``x_T`` is given) and
    then each step's noise, in diffusers' pipeline order. ``guidance``, ``cond`` and ``null_cond``
    as ``guided_prediction``. x_T is drawn in ``dtype`` on ``device`` (default: the condition's
    device, else the model's). ``callback`` sees every step (``SamplerStep``: a trajectory for
    distillation). Runs without gradients unless ``grad``. Returns x_0, ``shape``.
    """
    check_guidance(guidance)
    ts = _schedule_timesteps(schedule, steps, spacing, timesteps)
    return _sample(
        ddpm_step,
        model,
        schedule,
        shape,
        ts,
        guidance,
        generator,
        cond=cond,
        null_cond=null_cond,
        x_T=x_T,
        dtype=dtype,
        device=device,
        callback=callback,
        grad=grad,
        step_kwargs={"clip_x0": clip_x0},
    )


def ddim_sample(
    model: Callable[..., Tensor],
    schedule: NoiseSchedule,
    shape: Sequence[int],
    steps: int | None,
    guidance: float = 1.0,
    generator: torch.Generator | None = None,
    *,
    cond: Tensor | None = None,
    null_cond: Tensor | None = None,
    eta: float = 0.0,
    spacing: Spacing = "leading",
    timesteps: Sequence[int] | Tensor | None = None,
    clip_x0: float | None = None,
    x_T: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    callback: Callable[[SamplerStep], None] | None = None,
    grad: bool = False,
) -> Tensor:
    """DDIM sampling (Song et al. Sec. 4.2 and 5): x_T ~ N(0, I), then ``ddim_step`` along the
    ``steps``-long sub-sequence τ (``spacing``, or the explicit decreasing ``timesteps`` with
    ``steps=None``), each to the next element of τ. η = 0 is deterministic given x_T. Other
    arguments as ``ddpm_sample``.
    """
    check_guidance(guidance)
    check_eta(eta)
    ts = _schedule_timesteps(schedule, steps, spacing, timesteps)
    return _sample(
        ddim_step,
        model,
        schedule,
        shape,
        ts,
        guidance,
        generator,
        cond=cond,
        null_cond=null_cond,
        x_T=x_T,
        dtype=dtype,
        device=device,
        callback=callback,
        grad=grad,
        step_kwargs={"clip_x0": clip_x0, "eta": eta},
    )
