"""Builds the MONAI networks a bundle declares. The networks themselves are MONAI's."""

from __future__ import annotations

from typing import Any

import torch
from monai.networks.nets import AutoencoderKL, ControlNet

from .block_pca_autoencoder import BLOCK_PCA_KIND, BlockPCAAutoencoder
from .structure_regressor import NoisyLatentVolumeRegressor
from .unet import ConditionedDiffusionUNet


def build_autoencoder(kwargs: dict[str, Any]) -> AutoencoderKL | BlockPCAAutoencoder:
    """The 3D autoencoder the bundle's ``autoencoder`` field declares (``scale_factor`` removed).

    ``kind: "block_pca"`` builds a ``BlockPCAAutoencoder``; no ``kind`` (or ``"kl"``) MONAI's ``AutoencoderKL``.
    """
    kwargs = dict(kwargs)
    kind = kwargs.pop("kind", "kl")
    if kind == BLOCK_PCA_KIND:
        if kwargs.pop("whiten", False):
            raise ValueError("'whiten: true' is not supported: its decoder read the whitened latent. Whitened block-PCA "
                             "latents are 'channel_whitening: true' now; retrain the bundle with the current training "
                             "configs.")
        return BlockPCAAutoencoder(**{"spatial_dims": 3, **kwargs})
    if kind != "kl":
        raise ValueError(f"Unknown autoencoder kind '{kind}'; use 'kl' or '{BLOCK_PCA_KIND}'.")
    return AutoencoderKL(**{"spatial_dims": 3, **kwargs})


def build_unet(kwargs: dict[str, Any], flash_attention: bool = True) -> ConditionedDiffusionUNet:
    """The bundle's 3D U-Net from its ``unet`` (or ``inpaint_unet``) field: ``DiffusionModelUNet``'s arguments plus
    ``prompt_attributes``, ``lesion_attributes``, ``anatomical_prior`` and ``channel_preconditioning``
    (``braingen3d.models.unet.ConditionedDiffusionUNet``).

    SDPA attention (``use_flash_attention``) does not change the weights, only the kernel; it is 1.6x faster on
    a 2-core CPU and is the fast path on CUDA.
    """
    return ConditionedDiffusionUNet(**{"spatial_dims": 3, "use_flash_attention": flash_attention, **kwargs})


def build_controlnet(kwargs: dict[str, Any], flash_attention: bool = True) -> ControlNet:
    """A 3D MONAI ``ControlNet`` from the bundle's ``controlnet`` field."""
    return ControlNet(**{"spatial_dims": 3, "use_flash_attention": flash_attention, **kwargs})


def build_structure_regressor(guidance: dict[str, Any], latent_channels: int) -> NoisyLatentVolumeRegressor:
    """The structure-guidance regressor from the bundle's ``structure_guidance`` field."""
    return NoisyLatentVolumeRegressor(latent_channels, guidance["regressor"]["channels"], len(guidance["structures"]))


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
