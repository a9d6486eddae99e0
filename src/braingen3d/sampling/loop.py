"""The denoising loop, one for generation and for both inpainting methods.

``denoise`` walks the sampler's steps from seeded noise to a clean latent with classifier-free guidance.
Generation adds structure guidance (``braingen3d.sampling.structure_guidance``); the inpainting U-Net adds
the mask and the masked latent to the U-Net's input (``model_input``); RePaint keeps a known region
(``KnownRegion``): after every step the known region is replaced by the clean latent forward-noised to the
new level, and at jump points the merged latent is re-noised and denoised again (Lugmayr et al., 2022).

Noise levels. Every diffusers sampler used here keeps its sample at timestep ``t`` in one of two forms, with
``sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)``:

* variance preserving (DDIM, DDPM, DPM-Solver++): ``x = (x0 + sigma_t * eps) / sqrt(1 + sigma_t^2)``;
* variance exploding (Euler): ``x = x0 + sigma_t * eps``.

Index ``k`` is the state before the sampler's ``k``-th step; index ``N`` (after the last step) is clean.
"""

from __future__ import annotations

import copy
import inspect
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import torch
from diffusers import EulerDiscreteScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from ..core.progress import CancelToken
from ..prompts.text_encoder import PromptConditioning
from .guidance import guided_prediction
from .repaint import Resampling
from .schedulers import make_sampler
from .structure_guidance import StructureGuidance

StepCallback = Callable[[int, int], None]
VARIANCE_EXPLODING_SAMPLERS = (EulerDiscreteScheduler,)


def initial_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Seeded Gaussian noise drawn on the CPU, so the start point is the same on every device."""
    return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))


@dataclass
class SamplerRun:
    """A configured sampler for one call, with its seeded noise sources.

    Args:
        name: sampler name (``dpm++``, ``ddim``, ``euler``, ``ddpm``).
        noise_scheduler: the bundle's training noise schedule.
        steps: number of sampler steps.
        seed: the call's seed. The start noise uses ``seed``, stochastic samplers ``seed + 1``, and RePaint's
            re-noising ``seed + 2``.
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


@dataclass
class KnownRegion:
    """RePaint's known region: where the latent is kept, its clean values, and the jump schedule.

    Args:
        clean_latent: (1, C, ...) the clean latent whose region ``mask == 0`` is kept.
        mask: (1, 1, ...) 1 = generate, 0 = keep.
        resampling: the jump schedule (``Resampling()`` walks the steps without jumps).
    """

    clean_latent: torch.Tensor
    mask: torch.Tensor
    resampling: Resampling


def check_cancel(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.check()


def denoise(unet: torch.nn.Module, run: SamplerRun, shape: tuple[int, ...], conditioning: PromptConditioning,
            guidance_scale: float, model_input: Callable[[torch.Tensor], torch.Tensor] | None = None,
            known: KnownRegion | None = None, structure: StructureGuidance | None = None,
            prediction_type: str = "epsilon", on_step: StepCallback | None = None,
            cancel: CancelToken | None = None) -> torch.Tensor:
    """Sample a clean latent of ``shape`` from ``run``'s seeded noise.

    Args:
        unet: the U-Net (or a ``ControlledUNet``), called with the conditioning as keyword arguments.
        run: the sampler, steps, seed and device.
        shape: the latent's shape, (1, C, ...).
        conditioning: two rows, row 0 the negative or empty prompt, row 1 the prompt.
        guidance_scale: classifier-free guidance weight (1: the prompt's branch only).
        model_input: turns the scaled latent into the U-Net's input (the inpainting U-Net's extra channels).
        known: RePaint's known region and jumps; its region of the result equals ``known.clean_latent`` exactly.
        structure: structure guidance, which shifts each prediction.
        prediction_type: the U-Net's target (``epsilon`` or ``v_prediction``), for structure guidance.
        on_step: called with (U-Net evaluations done, total) after each evaluation.
        cancel: checked before each evaluation.
    """
    scheduler = run.scheduler()
    timesteps = scheduler.timesteps
    step_kwargs = run.step_kwargs(scheduler)
    path = known.resampling.path(len(timesteps)) if known is not None else list(range(len(timesteps) + 1))
    total = Resampling.model_evaluations(path)
    sample = run.start_noise(shape) * scheduler.init_noise_sigma
    merge = _KnownRegionMerge(known, scheduler, run, shape) if known is not None else None
    if merge is not None:
        sample = merge(sample, 0)
    # Multistep samplers keep state; a step taken again after a jump restarts from the state of its first visit.
    revisited = {index for index, visits in Counter(a for a, b in zip(path, path[1:]) if b > a).items() if visits > 1}
    states: dict[int, SchedulerMixin] = {}
    done = 0
    for index, next_index in zip(path, path[1:]):
        if next_index < index:
            sample = merge.renoise(sample, index, next_index)
            continue
        check_cancel(cancel)
        if index in states:
            scheduler = copy.deepcopy(states[index])
        elif index in revisited:
            states[index] = copy.deepcopy(scheduler)
        timestep = timesteps[index]
        scaled = scheduler.scale_model_input(sample, timestep)
        prediction = guided_prediction(unet, scaled if model_input is None else model_input(scaled), timestep,
                                       conditioning, guidance_scale)
        if structure is not None:
            prediction = structure.correct(prediction, scaled, timestep, scheduler.alphas_cumprod, prediction_type)
        sample = scheduler.step(prediction, timestep, sample, **step_kwargs).prev_sample
        if merge is not None:
            sample = merge(sample, next_index)
        done += 1
        if on_step is not None:
            on_step(done, total)
    return sample


class _KnownRegionMerge:
    """Pastes the known region, forward-noised to the sampler's level, into a sample; re-noises for jumps."""

    def __init__(self, known: KnownRegion, scheduler: SchedulerMixin, run: SamplerRun, shape: tuple[int, ...]) -> None:
        self.known = known
        self.keep = 1.0 - known.mask
        self.levels = NoiseLevels.from_scheduler(scheduler)
        self.fresh_noise = run.noise_source(shape)

    def __call__(self, sample: torch.Tensor, index: int) -> torch.Tensor:
        clean = self.known.clean_latent
        at_level = clean if index == self.levels.num_steps else self.levels.noised(clean, self.fresh_noise(), index)
        return self.known.mask * sample + self.keep * at_level

    def renoise(self, sample: torch.Tensor, from_index: int, to_index: int) -> torch.Tensor:
        return self.levels.renoise(sample, from_index, to_index, self.fresh_noise())

