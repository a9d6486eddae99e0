"""A MONAI ``DiffusionModelUNet`` that also takes the prompt through its timestep embedding.

Cross-attention lets each latent voxel look up the tokens it needs, but it runs only at the
attention levels, and a global attribute (modality, age, "enlarged ventricles") has to be learnt
there from few examples. Adding a pooled text vector to the timestep embedding, as SDXL and Imagen
do, puts the prompt into every residual block at every level. The pooled vector is the mean of the
context's token states (padding included: the text encoder always pads to its fixed length, so it
is a fixed function of the prompt), through a small MLP whose last layer starts at zero, so a new
network predicts exactly what the plain U-Net with the same weights predicts.
"""

from __future__ import annotations

from typing import Any

import torch
from monai.networks.nets import DiffusionModelUNet
from torch import nn

POOLED_TEXT_FLAG = "pooled_text_conditioning"
"""Bundle ``unet`` field that selects this network (absent or false: the plain MONAI U-Net)."""


class PooledTextDiffusionUNet(DiffusionModelUNet):
    """``DiffusionModelUNet`` plus ``pooled_text_embed``: mean token state -> timestep-embedding offset.

    Takes the same arguments as ``DiffusionModelUNet`` (``with_conditioning`` and
    ``cross_attention_dim`` are required: the pooled vector comes from the cross-attention context).
    """

    def __init__(self, **kwargs: Any) -> None:
        if not kwargs.get("with_conditioning") or not kwargs.get("cross_attention_dim"):
            raise ValueError("Pooled text conditioning needs with_conditioning=True and a cross_attention_dim.")
        super().__init__(**kwargs)
        embed_dim = self.time_embed[-1].out_features
        self.pooled_text_embed = nn.Sequential(
            nn.Linear(int(kwargs["cross_attention_dim"]), embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim)
        )
        nn.init.zeros_(self.pooled_text_embed[-1].weight)
        nn.init.zeros_(self.pooled_text_embed[-1].bias)
        self._pooled_text: torch.Tensor | None = None
        # A hook keeps MONAI's forward (and its state-dict keys) as they are: it adds the offset
        # right where MONAI adds its own class embedding.
        self.time_embed.register_forward_hook(self._add_pooled_text)

    def _add_pooled_text(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        if self._pooled_text is None:
            return output
        return output + self.pooled_text_embed(self._pooled_text.to(output.dtype)).to(output.dtype)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor | None = None,
                *args: Any, **kwargs: Any) -> torch.Tensor:
        self._pooled_text = None if context is None else context.mean(dim=1)
        try:
            return super().forward(x, timesteps, context, *args, **kwargs)
        finally:
            self._pooled_text = None
