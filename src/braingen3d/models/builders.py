"""Builds the MONAI networks a bundle declares. The networks themselves are MONAI's."""

from __future__ import annotations

from typing import Any

import torch
from monai.networks.nets import AutoencoderKL, ControlNet, DiffusionModelUNet

from .anatomical_prior import ANATOMICAL_PRIOR_FIELD, enable_anatomical_prior
from .block_pca_autoencoder import BLOCK_PCA_KIND, BlockPCAAutoencoder
from .unet import PRECONDITIONING_FIELD, ChannelPreconditionedUNet
from ..prompts.attributes import LESION_ATTRIBUTES_FLAG, PROMPT_ATTRIBUTES_FLAG, enable_prompt_attributes
from .structure_regressor import NoisyLatentVolumeRegressor


def build_autoencoder(kwargs: dict[str, Any]) -> AutoencoderKL | BlockPCAAutoencoder:
    """The 3D autoencoder the bundle's ``autoencoder`` field declares (``scale_factor`` removed).

    ``kind: "block_pca"`` builds a ``BlockPCAAutoencoder``; no ``kind`` (or ``"kl"``) MONAI's ``AutoencoderKL``.
    """
    kwargs = dict(kwargs)
    kind = kwargs.pop("kind", "kl")
    if kind == BLOCK_PCA_KIND:
        if kwargs.pop("whiten", False):
            raise ValueError("'whiten: true' (one spread per latent channel) is not supported; block-PCA latents keep "
                             "their natural spectrum. Retrain the bundle with the current training configs.")
        return BlockPCAAutoencoder(**{"spatial_dims": 3, **kwargs})
    if kind != "kl":
        raise ValueError(f"Unknown autoencoder kind '{kind}'; use 'kl' or '{BLOCK_PCA_KIND}'.")
    return AutoencoderKL(**{"spatial_dims": 3, **kwargs})


def build_unet(kwargs: dict[str, Any], flash_attention: bool = True) -> DiffusionModelUNet:
    """A 3D ``DiffusionModelUNet`` with cross-attention from the bundle's ``unet`` field.

    SDPA attention (``use_flash_attention``) does not change the weights, only the kernel;
    it is 1.6x faster on this project's reference CPU and is the fast path on CUDA.
    With ``channel_preconditioning`` it is preconditioned per
    latent channel (``braingen3d.models.unet``). With ``prompt_attributes: true`` it reads the
    prompt-attribute token (``braingen3d.prompts.attributes``; with ``lesion_attributes: true`` its lesion
    features too), and with ``anatomical_prior`` also where the structures lie (``braingen3d.models.anatomical_prior``).
    """
    kwargs = {"spatial_dims": 3, "use_flash_attention": flash_attention, **kwargs}
    attributes = bool(kwargs.pop(PROMPT_ATTRIBUTES_FLAG, False))
    lesions = bool(kwargs.pop(LESION_ATTRIBUTES_FLAG, False))
    prior = kwargs.pop(ANATOMICAL_PRIOR_FIELD, None)
    if lesions and not attributes:
        raise ValueError(f"'{LESION_ATTRIBUTES_FLAG}' needs '{PROMPT_ATTRIBUTES_FLAG}: true': the lesion features "
                         "travel in the prompt-attribute token.")
    unet = _build_text_unet(kwargs)
    if attributes:
        enable_prompt_attributes(unet, lesions=lesions)
    if prior is not None:
        enable_anatomical_prior(unet, prior)
    return unet


def _build_text_unet(kwargs: dict[str, Any]) -> DiffusionModelUNet:
    preconditioning = kwargs.pop(PRECONDITIONING_FIELD, None)
    if preconditioning is None:
        return DiffusionModelUNet(**kwargs)
    if not isinstance(preconditioning, dict) or "second_moment" not in preconditioning:
        raise ValueError(f"'{PRECONDITIONING_FIELD}' must hold the measured 'second_moment' per latent channel and the "
                         "'noise_scheduler'; the diffusion trainer measures them from the latent cache.")
    return ChannelPreconditionedUNet(preconditioning["second_moment"], preconditioning["noise_scheduler"], **kwargs)


def build_controlnet(kwargs: dict[str, Any], flash_attention: bool = True) -> ControlNet:
    """A 3D MONAI ``ControlNet`` from the bundle's ``controlnet`` field."""
    return ControlNet(**{"spatial_dims": 3, "use_flash_attention": flash_attention, **kwargs})


def build_structure_regressor(guidance: dict[str, Any], latent_channels: int) -> NoisyLatentVolumeRegressor:
    """The structure-guidance regressor from the bundle's ``structure_guidance`` field."""
    return NoisyLatentVolumeRegressor(latent_channels, guidance["regressor"]["channels"], len(guidance["structures"]))


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
