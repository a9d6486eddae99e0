"""Which inpainting method a bundle offers and which one a call uses.

Sampling with a trained inpainting U-Net (MAM-E / Stable-Diffusion-inpainting style).

The inpainting U-Net is a ``DiffusionModelUNet`` with ``in_channels = 2 * latent_channels + 1``.
Its input is the concatenation, along channels and in this order, of:

1. the noisy latent (after the sampler's ``scale_model_input``), ``latent_channels`` channels;
2. the mask on the latent grid (1 = region to generate, 0 = keep; max-pooled from the model-grid
   mask over each latent voxel's block), 1 channel;
3. the masked clean latent, ``clean_latent * (1 - mask)`` (the known region's latent, zeros in the
   masked region), ``latent_channels`` channels.

The clean latent is ``autoencoder.encode(image).z_mu * scale_factor``. A trainer must build its
inputs with ``inpaint_unet_input`` so both sides agree.

RePaint-style latent inpainting with the bundle's text U-Net (works with any text bundle).

After every sampler step the known region (mask = 0) of the latent is replaced by the clean latent
forward-noised to the new level, so the generated region is denoised next to a consistent context.
At jump points the merged latent is re-noised ``jump_length`` levels and denoised again
(``rounds`` times), which lets the generated region adapt to the known one (Lugmayr et al., 2022)."""

from __future__ import annotations

import copy

import torch

from ...core.progress import CancelToken
from ...sampling.guidance import guided_prediction
from ...sampling.loop import check_cancel, LatentProblem, SamplerRun, StepCallback
from ...sampling.loop import NoiseLevels
from ...sampling.repaint import Resampling


INPAINT_UNET_INPUT_ORDER = ("noisy_latent", "mask", "masked_latent")


def masked_latent(clean_latent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The known region's latent: ``clean_latent * (1 - mask)``."""
    return clean_latent * (1.0 - mask)


def inpaint_unet_input(noisy_latent: torch.Tensor, mask: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Channels in ``INPAINT_UNET_INPUT_ORDER``: noisy latent, mask, masked clean latent."""
    return torch.cat([noisy_latent, mask.to(noisy_latent.dtype), masked.to(noisy_latent.dtype)], dim=1)


def sample_with_inpaint_unet(unet: torch.nn.Module, problem: LatentProblem, run: SamplerRun,
                             on_step: StepCallback | None = None, cancel: CancelToken | None = None) -> torch.Tensor:
    """Denoise from noise with the mask and the masked latent as extra U-Net inputs at every step.

    Args:
        unet: the bundle's inpainting U-Net.
        problem: clean latent, latent mask, text context and guidance.
        run: the sampler, steps, seed and device.
        on_step: called with (step, total) after each step.
        cancel: checked before each step.
    """
    scheduler = run.scheduler()
    step_kwargs = run.step_kwargs(scheduler)
    conditioning = (problem.mask, masked_latent(problem.clean_latent, problem.mask))
    sample = run.start_noise(tuple(problem.clean_latent.shape)) * scheduler.init_noise_sigma
    total = len(scheduler.timesteps)
    for step, timestep in enumerate(scheduler.timesteps):
        check_cancel(cancel)
        model_input = inpaint_unet_input(scheduler.scale_model_input(sample, timestep), *conditioning)
        prediction = guided_prediction(unet, model_input, timestep, problem.context, problem.guidance_scale)
        sample = scheduler.step(prediction, timestep, sample, **step_kwargs).prev_sample
        if on_step is not None:
            on_step(step + 1, total)
    return sample


def repaint(unet: torch.nn.Module, problem: LatentProblem, run: SamplerRun, resampling: Resampling,
            on_step: StepCallback | None = None, cancel: CancelToken | None = None) -> torch.Tensor:
    """Sample a latent whose known region is ``problem.clean_latent`` and whose masked region is generated.

    Args:
        unet: the bundle's text-conditioned ``DiffusionModelUNet``.
        problem: clean latent, latent mask, text context and guidance.
        run: the sampler, steps, seed and device.
        resampling: RePaint's jump schedule.
        on_step: called with (evaluation, total evaluations) after each U-Net evaluation.
        cancel: checked before each evaluation.

    Returns:
        The (1, C, ...) clean latent; its known region equals ``problem.clean_latent`` exactly.
    """
    scheduler = run.scheduler()
    timesteps = scheduler.timesteps
    levels = NoiseLevels.from_scheduler(scheduler)
    path = resampling.path(levels.num_steps)
    total = Resampling.model_evaluations(path)
    step_kwargs = run.step_kwargs(scheduler)
    clean, keep = problem.clean_latent, 1.0 - problem.mask
    shape = tuple(clean.shape)
    fresh_noise = run.noise_source(shape)

    def merge(sample: torch.Tensor, index: int) -> torch.Tensor:
        known = clean if index == levels.num_steps else levels.noised(clean, fresh_noise(), index)
        return problem.mask * sample + keep * known

    sample = merge(run.start_noise(shape) * scheduler.init_noise_sigma, 0)
    # Multistep samplers keep state; a repeated step restarts from the state of its first visit.
    states: dict[int, object] = {}
    done = 0
    for index, next_index in zip(path, path[1:]):
        if next_index < index:
            sample = levels.renoise(sample, index, next_index, fresh_noise())
            continue
        check_cancel(cancel)
        if index in states:
            scheduler = copy.deepcopy(states[index])
        else:
            states[index] = copy.deepcopy(scheduler)
        timestep = timesteps[index]
        model_input = scheduler.scale_model_input(sample, timestep)
        prediction = guided_prediction(unet, model_input, timestep, problem.context, problem.guidance_scale)
        sample = merge(scheduler.step(prediction, timestep, sample, **step_kwargs).prev_sample, next_index)
        done += 1
        if on_step is not None:
            on_step(done, total)
    return sample
