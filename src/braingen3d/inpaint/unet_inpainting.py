"""Sampling with a trained inpainting U-Net (MAM-E / Stable-Diffusion-inpainting style).

The inpainting U-Net is a ``DiffusionModelUNet`` with ``in_channels = 2 * latent_channels + 1``.
Its input is the concatenation, along channels and in this order, of:

1. the noisy latent (after the sampler's ``scale_model_input``), ``latent_channels`` channels;
2. the mask on the latent grid (1 = region to generate, 0 = keep; max-pooled from the model-grid
   mask over each latent voxel's block), 1 channel;
3. the masked clean latent, ``clean_latent * (1 - mask)`` (the known region's latent, zeros in the
   masked region), ``latent_channels`` channels.

The clean latent is ``autoencoder.encode(image).z_mu * scale_factor``. A trainer must build its
inputs with ``inpaint_unet_input`` so both sides agree.
"""

from __future__ import annotations

import torch

from ..errors import BundleError
from ..guidance import guided_prediction
from ..progress import CancelToken
from .sampling import LatentProblem, SamplerRun, StepCallback, check_cancel

INPAINT_UNET_INPUT_ORDER = ("noisy_latent", "mask", "masked_latent")


def masked_latent(clean_latent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The known region's latent: ``clean_latent * (1 - mask)``."""
    return clean_latent * (1.0 - mask)


def inpaint_unet_input(noisy_latent: torch.Tensor, mask: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Channels in ``INPAINT_UNET_INPUT_ORDER``: noisy latent, mask, masked clean latent."""
    return torch.cat([noisy_latent, mask.to(noisy_latent.dtype), masked.to(noisy_latent.dtype)], dim=1)


def expected_in_channels(latent_channels: int) -> int:
    return 2 * latent_channels + 1


def check_inpaint_unet(unet_kwargs: dict, latent_channels: int) -> None:
    """Refuse an inpainting U-Net whose input channels do not fit ``INPAINT_UNET_INPUT_ORDER``."""
    expected = expected_in_channels(latent_channels)
    if unet_kwargs.get("in_channels") != expected:
        raise BundleError(
            f"Bundle config field 'inpaint_unet.in_channels' is {unet_kwargs.get('in_channels')} but inpainting needs "
            f"{expected} (2 x latent_channels + 1: noisy latent, mask, masked latent). Re-export the bundle."
        )


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
