"""What both inpainting samplers share: the guided latent problem and the sampler set-up.

Noise levels of a sampler's timestep schedule, and forward noising at those levels (``NoiseLevels``).
Every diffusers sampler used here keeps its sample at timestep ``t`` in one of two forms, with
``sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)``:

* variance preserving (DDIM, DDPM, DPM-Solver++): ``x = (x0 + sigma_t * eps) / sqrt(1 + sigma_t^2)``;
* variance exploding (Euler): ``x = x0 + sigma_t * eps``.

Index ``k`` is the state before the sampler's ``k``-th step; index ``N`` (after the last step) is clean.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import torch
from diffusers import EulerDiscreteScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from ..core.progress import CancelToken
from .schedulers import make_sampler

StepCallback = Callable[[int, int], None]


def initial_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Seeded Gaussian noise drawn on the CPU, so the start point is the same on every device."""
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))


@dataclass
class LatentProblem:
    """A latent inpainting problem.

    Args:
        clean_latent: (1, C, ...) scaled latent of the whole model-grid image.
        mask: (1, 1, ...) latent-grid mask, 1 = generate, 0 = keep.
        context: (2, tokens, dim) text context, row 0 negative/empty prompt, row 1 the prompt.
        guidance_scale: classifier-free guidance weight (1 = conditional branch only).
    """

    clean_latent: torch.Tensor
    mask: torch.Tensor
    context: torch.Tensor
    guidance_scale: float


@dataclass
class SamplerRun:
    """A configured sampler for one call, with its seeded noise sources.

    Args:
        name: sampler name (``dpm++``, ``ddim``, ``euler``, ``ddpm``).
        noise_scheduler: the bundle's training noise schedule.
        steps: number of sampler steps.
        seed: the call's seed. The start noise uses ``seed`` (as ``generate`` does), stochastic
            samplers ``seed + 1``, and RePaint's re-noising ``seed + 2``.
        device: where the latents live.
    """

    name: str
    noise_scheduler: dict[str, Any]
    steps: int
    seed: int
    device: torch.device

    def scheduler(self) -> SchedulerMixin:
        scheduler = make_sampler(self.name, self.noise_scheduler)
        scheduler.set_timesteps(self.steps, device=self.device)
        return scheduler

    def step_kwargs(self, scheduler: SchedulerMixin) -> dict[str, Any]:
        if "generator" in inspect.signature(scheduler.step).parameters:
            return {"generator": torch.Generator("cpu").manual_seed(self.seed + 1)}
        return {}

    def start_noise(self, shape: tuple[int, ...]) -> torch.Tensor:
        return initial_noise(shape, self.seed).to(self.device)

    def noise_source(self, shape: tuple[int, ...]) -> Callable[[], torch.Tensor]:
        generator = torch.Generator("cpu").manual_seed(self.seed + 2)
        return lambda: torch.randn(shape, generator=generator).to(self.device)


def check_cancel(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.check()


VARIANCE_EXPLODING_SAMPLERS = (EulerDiscreteScheduler,)


@dataclass
class NoiseLevels:
    """``sigmas[k]`` for k = 0..N (``sigmas[N] = 0``) and the sampler's parametrisation."""

    sigmas: torch.Tensor
    variance_exploding: bool

    @classmethod
    def from_scheduler(cls, scheduler: SchedulerMixin) -> "NoiseLevels":
        """Levels of a scheduler after ``set_timesteps``."""
        alpha_bar = scheduler.alphas_cumprod.double()[scheduler.timesteps.long().cpu()]
        sigmas = torch.cat([((1.0 - alpha_bar) / alpha_bar).sqrt(), torch.zeros(1, dtype=torch.float64)])
        return cls(sigmas, isinstance(scheduler, VARIANCE_EXPLODING_SAMPLERS))

    @property
    def num_steps(self) -> int:
        return len(self.sigmas) - 1

    def _to_exploding(self, sample: torch.Tensor, sigma: float) -> torch.Tensor:
        return sample if self.variance_exploding else sample * (1.0 + sigma**2) ** 0.5

    def _from_exploding(self, sample: torch.Tensor, sigma: float) -> torch.Tensor:
        return sample if self.variance_exploding else sample / (1.0 + sigma**2) ** 0.5

    def noised(self, clean: torch.Tensor, noise: torch.Tensor, index: int) -> torch.Tensor:
        """A draw of q(x_k | x0): ``clean`` forward-noised to level ``index``."""
        sigma = float(self.sigmas[index])
        return self._from_exploding(clean + sigma * noise, sigma)

    def renoise(self, sample: torch.Tensor, from_index: int, to_index: int, noise: torch.Tensor) -> torch.Tensor:
        """A draw of q(x_to | x_from) for ``to_index < from_index``: forward diffusion back up the schedule."""
        if to_index >= from_index:
            raise ValueError(f"renoise goes to a noisier level: to_index {to_index} must be < from_index {from_index}")
        sigma_from, sigma_to = float(self.sigmas[from_index]), float(self.sigmas[to_index])
        exploding = self._to_exploding(sample, sigma_from) + (sigma_to**2 - sigma_from**2) ** 0.5 * noise
        return self._from_exploding(exploding, sigma_to)
