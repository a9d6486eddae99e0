"""A MONAI ``DiffusionModelUNet`` preconditioned per latent channel, for latents whose channels differ in scale.

A plain U-Net predicting ``v`` (or ``eps``) is well conditioned when every latent channel has unit variance:
the best linear guess of ``v`` is then 0, and the network only learns what is not linear. An orthonormal
block-PCA latent keeps the image's energy spectrum instead (the coarse channel has a second moment of about
30, the finest about 0.005 in scaled units). For a weak channel the target is almost a copy of the noisy
input, scaled, which a U-Net reproduces badly: it then predicts those channels worse than predicting zero,
and samples come out covered in fine noise (training README).

Following EDM's preconditioning (Karras et al., 2022), per channel ``k`` with second moment ``m_k``, at a
timestep with ``a = sqrt(alpha_bar)`` and ``s = sqrt(1 - alpha_bar)`` (``d_k = a^2 m_k + s^2``)::

    v = (a s (1 - m_k) / d_k) x_t + sqrt(m_k / d_k) F(x_t / sqrt(d_k))
    eps = (s / d_k) x_t + a sqrt(m_k / d_k) F(x_t / sqrt(d_k))

The first term is the prediction of the best linear (Wiener) denoiser of that channel; the network ``F``
sees unit-variance inputs and predicts a unit-scale residual. The loss and the samplers are unchanged.
Input channels beyond the latent's (the inpainting U-Net's mask and masked latent) pass unscaled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.nets import DiffusionModelUNet

PRECONDITIONING_FIELD = "channel_preconditioning"
"""Bundle ``unet`` field: ``{"second_moment": [...], "noise_scheduler": {...}}`` (absent: the plain U-Net)."""


def schedule_alphas_cumprod(noise_scheduler: dict[str, Any]) -> torch.Tensor:
    """``alpha_bar`` per training timestep of a bundle's ``noise_scheduler`` (the training scheduler's)."""
    from ..sampling.schedulers import make_training_scheduler

    return make_training_scheduler(noise_scheduler).alphas_cumprod.float()


class ChannelPreconditionedUNet(DiffusionModelUNet):
    """``DiffusionModelUNet`` with per-channel input scaling, Wiener skip and output scaling.

    Args:
        second_moment: the scaled training latents' mean square, one value per latent channel.
        noise_scheduler: the bundle's ``noise_scheduler`` (its ``alpha_bar`` and ``prediction_type``).
        **kwargs: ``DiffusionModelUNet``'s arguments; ``out_channels`` must equal ``len(second_moment)``.

    The state dict is the plain U-Net's: the preconditioning comes from the bundle config.
    """

    def __init__(self, second_moment: Sequence[float], noise_scheduler: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        moments = torch.as_tensor([float(m) for m in second_moment], dtype=torch.float32)
        if moments.numel() != self.out_channels or self.in_channels < self.out_channels:
            raise ValueError(f"channel_preconditioning has {moments.numel()} second moments for a U-Net with "
                             f"{self.in_channels} input and {self.out_channels} output channels; it needs one per "
                             "latent (output) channel.")
        if not bool((moments > 0).all()):
            raise ValueError("channel_preconditioning second moments must all be positive.")
        self.prediction_type = noise_scheduler.get("prediction_type", "epsilon")
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"channel_preconditioning supports epsilon and v_prediction, not {self.prediction_type!r}.")
        self.register_buffer("second_moment", moments, persistent=False)
        self.register_buffer("alphas_cumprod", schedule_alphas_cumprod(noise_scheduler), persistent=False)

    def coefficients(self, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(c_in, c_skip, c_out)``, each ``(B, C, 1, 1, 1)``, for integer training timesteps ``(B,)``."""
        alpha_bar = self.alphas_cumprod[timesteps.long().clamp(0, len(self.alphas_cumprod) - 1)]
        a = alpha_bar.sqrt().view(-1, 1)
        s = (1 - alpha_bar).sqrt().view(-1, 1)
        m = self.second_moment.view(1, -1)
        d = a * a * m + s * s
        c_in = d.rsqrt()
        if self.prediction_type == "v_prediction":
            c_skip, c_out = a * s * (1 - m) / d, (m / d).sqrt()
        else:
            c_skip, c_out = s / d, a * (m / d).sqrt()
        shape = (-1, len(m[0]), 1, 1, 1)
        return c_in.reshape(shape), c_skip.reshape(shape), c_out.reshape(shape)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor | None = None,
                *args: Any, **kwargs: Any) -> torch.Tensor:
        timesteps = torch.as_tensor(timesteps, device=x.device).reshape(-1).expand(x.shape[0])
        c_in, c_skip, c_out = self.coefficients(timesteps)
        channels = self.out_channels
        latent = x[:, :channels].float()
        extra = x[:, channels:].float()
        scaled = torch.cat([latent * c_in, extra], dim=1).to(x.dtype)
        residual = super().forward(scaled, timesteps, context, *args, **kwargs)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return c_skip * latent + c_out * residual.float()
