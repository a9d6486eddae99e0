"""Noise levels of a sampler's timestep schedule, and forward noising at those levels.

Every diffusers sampler used here keeps its sample at timestep ``t`` in one of two forms, with
``sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)``:

* variance preserving (DDIM, DDPM, DPM-Solver++): ``x = (x0 + sigma_t * eps) / sqrt(1 + sigma_t^2)``;
* variance exploding (Euler): ``x = x0 + sigma_t * eps``.

Index ``k`` is the state before the sampler's ``k``-th step; index ``N`` (after the last step) is clean.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import EulerDiscreteScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

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
