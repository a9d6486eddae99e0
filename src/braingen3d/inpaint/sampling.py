"""What both inpainting samplers share: the guided latent problem and the sampler set-up."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import torch
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from ..pipeline import initial_noise
from ..progress import CancelToken
from ..schedulers import make_sampler

StepCallback = Callable[[int, int], None]


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
