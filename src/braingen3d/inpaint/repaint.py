"""RePaint-style latent inpainting with the bundle's text U-Net (works with any text bundle).

After every sampler step the known region (mask = 0) of the latent is replaced by the clean latent
forward-noised to the new level, so the generated region is denoised next to a consistent context.
At jump points the merged latent is re-noised ``jump_length`` levels and denoised again
(``rounds`` times), which lets the generated region adapt to the known one (Lugmayr et al., 2022).
"""

from __future__ import annotations

import copy

import torch

from ..guidance import guided_prediction
from ..progress import CancelToken
from .noise_levels import NoiseLevels
from .resampling import Resampling
from .sampling import LatentProblem, SamplerRun, StepCallback, check_cancel


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
