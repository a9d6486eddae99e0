"""Between the model grid and the latent grid: encoding images and downsampling masks."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..bundle import BundleConfig


def latent_downsampling(config: BundleConfig) -> int:
    """How many model-grid voxels one latent voxel spans along each axis."""
    return 2 ** (len(config.autoencoder["channels"]) - 1)


def encode_image(autoencoder: torch.nn.Module, image: np.ndarray, scale_factor: float, device: torch.device) -> torch.Tensor:
    """The scaled latent of a model-grid image in [0, 1]: ``encode(image).z_mu * scale_factor``, shape (1, C, ...).

    The posterior mean is used (not a sample), so the known region's latent is deterministic.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None].to(device)
    z_mu, _ = autoencoder.encode(tensor)
    return z_mu.float() * scale_factor


def latent_mask(model_mask: np.ndarray, factor: int, device: torch.device) -> torch.Tensor:
    """(1, 1, ...) float mask on the latent grid: 1 where any model voxel of the block is in the mask (max-pool)."""
    tensor = torch.from_numpy(np.ascontiguousarray(model_mask, dtype=np.float32))[None, None]
    return F.max_pool3d(tensor, kernel_size=factor, stride=factor).to(device)
