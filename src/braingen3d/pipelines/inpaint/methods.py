"""The two inpainting methods, both one call of the shared denoising loop (``braingen3d.sampling.loop.denoise``).

``inpaint_unet``: a trained inpainting U-Net (MAM-E / Stable-Diffusion-inpainting style), a U-Net with
``in_channels = 2 * latent_channels + 1``. Its input is the concatenation, along channels and in this order
(``INPAINT_UNET_INPUT_ORDER``), of:

1. the noisy latent (after the sampler's ``scale_model_input``), ``latent_channels`` channels;
2. the mask on the latent grid (1 = region to generate, 0 = keep; max-pooled from the model-grid
   mask over each latent voxel's block), 1 channel;
3. the masked clean latent, ``clean_latent * (1 - mask)`` (the known region's latent, zeros in the
   masked region), ``latent_channels`` channels.

The clean latent is ``autoencoder.encode(image).z_mu * scale_factor``. A trainer must build its inputs with
``inpaint_unet_input`` so both sides agree.

``repaint``: the bundle's text U-Net with RePaint (works with any text bundle). After every sampler step the
known region of the latent is replaced by the clean latent forward-noised to the new level, so the generated
region is denoised next to a consistent context; at jump points the merged latent is re-noised and denoised
again, which lets the generated region adapt to the known one (Lugmayr et al., 2022).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...core.progress import CancelToken
from ...prompts.text_encoder import PromptConditioning
from ...sampling.loop import KnownRegion, SamplerRun, StepCallback, denoise
from ...sampling.repaint import Resampling

INPAINT_UNET_INPUT_ORDER = ("noisy_latent", "mask", "masked_latent")


@dataclass
class LatentProblem:
    """A latent inpainting problem.

    Args:
        clean_latent: (1, C, ...) scaled latent of the whole model-grid image.
        mask: (1, 1, ...) latent-grid mask, 1 = generate, 0 = keep.
        conditioning: two rows, row 0 the negative or empty prompt, row 1 the prompt.
        guidance_scale: classifier-free guidance weight (1 = the prompt's branch only).
    """

    clean_latent: torch.Tensor
    mask: torch.Tensor
    conditioning: PromptConditioning
    guidance_scale: float


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
        problem: clean latent, latent mask, conditioning and guidance.
        run: the sampler, steps, seed and device.
        on_step: called with (step, total) after each step.
        cancel: checked before each step.
    """
    mask, masked = problem.mask, masked_latent(problem.clean_latent, problem.mask)
    return denoise(unet, run, tuple(problem.clean_latent.shape), problem.conditioning, problem.guidance_scale,
                   model_input=lambda scaled: inpaint_unet_input(scaled, mask, masked), on_step=on_step, cancel=cancel)


def repaint(unet: torch.nn.Module, problem: LatentProblem, run: SamplerRun, resampling: Resampling,
            on_step: StepCallback | None = None, cancel: CancelToken | None = None) -> torch.Tensor:
    """Sample a latent whose known region is ``problem.clean_latent`` and whose masked region is generated.

    Args:
        unet: the bundle's text U-Net.
        problem: clean latent, latent mask, conditioning and guidance.
        run: the sampler, steps, seed and device.
        resampling: RePaint's jump schedule.
        on_step: called with (evaluation, total evaluations) after each U-Net evaluation.
        cancel: checked before each evaluation.

    Returns:
        The (1, C, ...) clean latent; its known region equals ``problem.clean_latent`` exactly.
    """
    known = KnownRegion(problem.clean_latent, problem.mask, resampling)
    return denoise(unet, run, tuple(problem.clean_latent.shape), problem.conditioning, problem.guidance_scale,
                   known=known, on_step=on_step, cancel=cancel)
