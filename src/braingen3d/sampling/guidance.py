"""Classifier-free guidance with a real unconditional (empty or negative prompt) conditioning."""

from __future__ import annotations

import torch

from ..prompts.text_encoder import PromptConditioning


def guided_prediction(unet: torch.nn.Module, latents: torch.Tensor, timestep: torch.Tensor,
                      conditioning: PromptConditioning, guidance_scale: float, **unet_kwargs) -> torch.Tensor:
    """One batched U-Net forward for both branches, then ``uncond + w * (cond - uncond)``.

    Args:
        unet: the bundle's U-Net (``braingen3d.models.unet.ConditionedDiffusionUNet``) or a wrapper with its call.
        latents: ``(B, C, ...)`` current latents.
        timestep: the current timestep (scalar tensor or int).
        conditioning: two rows: row 0 the negative or empty prompt, row 1 the prompt.
        guidance_scale: 1 uses the prompt's branch only (one forward of batch B).
        unet_kwargs: extra U-Net inputs (e.g. ControlNet residuals), already batched for both branches.
    """
    batch = latents.shape[0]
    if guidance_scale == 1.0:
        t = torch.as_tensor(timestep, device=latents.device).reshape(1).expand(batch)
        return unet(latents, t, **conditioning.repeat_row(1, batch).unet_kwargs(), **unet_kwargs)
    doubled = torch.cat([latents, latents])
    t = torch.as_tensor(timestep, device=latents.device).reshape(1).expand(2 * batch)
    both = PromptConditioning.concatenate([conditioning.repeat_row(0, batch), conditioning.repeat_row(1, batch)])
    uncond, cond = unet(doubled, t, **both.unet_kwargs(), **unet_kwargs).float().chunk(2)
    return uncond + guidance_scale * (cond - uncond)
