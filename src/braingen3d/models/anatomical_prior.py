"""Anatomical prior: where the structures a prompt's attributes change lie, as a U-Net input.

The prompt's attributes (``braingen3d.prompts.attributes``) reach the U-Net as one vector added to its
timestep embedding: a shift of every feature map, the same at every voxel. That carries whole-volume
properties such as the modality, but a U-Net that must turn "72-year-old" into larger lateral
ventricles has to find the ventricles first, and at the noise levels where the sampler settles their
size the latent hardly shows them: trained that way, a small U-Net's clean-latent prediction barely moves
between a 25- and an 85-year-old prompt.

This module gives the U-Net the place directly: per structure a smoothed probability map on the latent
grid (from the template the cohort's anatomy comes from; the diffusion trainer makes it), multiplied by
``[1, attributes]``. A zero-initialised 1x1x1 convolution maps those products to the first feature
maps (after ``conv_in``), so an age can act where the ventricles are. The maps travel in the U-Net's
weights (a buffer); the U-Net (``braingen3d.models.unet``) passes it the prompt's attribute vector.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..prompts.attributes import ATTRIBUTE_FEATURES

ANATOMICAL_PRIOR_FIELD = "anatomical_prior"
"""Field of the bundle's ``unet`` (and ``inpaint_unet``): ``{"structures": [...], "shape": [I, J, K]}``."""
ANATOMICAL_PRIOR_PREFIX = f"{ANATOMICAL_PRIOR_FIELD}."
"""State-dict prefix of the prior's maps and projection in a U-Net."""


class AnatomicalPriorFeatures(nn.Module):
    """``maps ⊗ [1, attributes]`` → a zero-initialised 1x1x1 convolution → an offset of the first feature maps.

    Args:
        num_structures: prior maps (one per structure).
        shape: the latent grid's spatial shape.
        out_channels: channels of the U-Net's first feature maps.
    """

    def __init__(self, num_structures: int, shape: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.register_buffer("maps", torch.zeros(num_structures, *[int(s) for s in shape]))
        self.projection = nn.Conv3d(num_structures * (1 + ATTRIBUTE_FEATURES), out_channels, kernel_size=1)
        nn.init.zeros_(self.projection.weight)
        nn.init.zeros_(self.projection.bias)

    def forward(self, attributes: torch.Tensor | None, features: torch.Tensor) -> torch.Tensor:
        """``features + projection(maps ⊗ [1, attributes])``; absent attributes count as zeros."""
        batch = features.shape[0]
        if features.shape[2:] != self.maps.shape[1:]:
            raise ValueError(f"The anatomical prior maps are {tuple(self.maps.shape[1:])} but the latent is "
                             f"{tuple(features.shape[2:])}; generate on the bundle's grid.")
        if attributes is None:
            attributes = features.new_zeros(batch, ATTRIBUTE_FEATURES)
        factors = torch.cat([attributes.new_ones(attributes.shape[0], 1), attributes], dim=1).expand(batch, -1)
        maps = self.maps.to(features.dtype)
        products = maps[None, :, None] * factors.to(features.dtype)[:, None, :, None, None, None]
        products = products.flatten(1, 2)
        return features + self.projection(products.to(self.projection.weight.dtype)).to(features.dtype)
