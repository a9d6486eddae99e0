"""Classifier-free guidance with a real unconditional (empty or negative prompt) embedding."""

from __future__ import annotations

import torch


def guided_prediction(unet: torch.nn.Module, latents: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                      guidance_scale: float, **unet_kwargs) -> torch.Tensor:
    """One batched U-Net forward for both branches, then ``uncond + w * (cond - uncond)``.

    Args:
        unet: a MONAI ``DiffusionModelUNet`` with cross-attention.
        latents: ``(1, C, ...)`` current latents.
        timestep: the current timestep (scalar tensor or int).
        context: ``(2, tokens, dim)``: row 0 is the negative/empty prompt, row 1 the prompt.
        guidance_scale: 1 uses the conditional branch only (one forward of batch 1).
        unet_kwargs: extra U-Net inputs (e.g. ControlNet residuals), already batched for two rows.
    """
    batch = latents.shape[0]
    if guidance_scale == 1.0:
        t = torch.as_tensor(timestep, device=latents.device).reshape(1).expand(batch)
        return unet(latents, t, context=context[1:2].expand(batch, -1, -1), **unet_kwargs)
    doubled = torch.cat([latents, latents])
    t = torch.as_tensor(timestep, device=latents.device).reshape(1).expand(2 * batch)
    ctx = torch.cat([context[0:1].expand(batch, -1, -1), context[1:2].expand(batch, -1, -1)])
    uncond, cond = unet(doubled, t, context=ctx, **unet_kwargs).float().chunk(2)
    return uncond + guidance_scale * (cond - uncond)
