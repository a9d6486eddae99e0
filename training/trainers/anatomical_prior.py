"""The anatomical prior maps a U-Net with ``anatomical_prior`` reads (``braingen3d.models.anatomical_prior``).

Each structure's fraction map from the MNI templates the cohort is derived from, averaged over the
autoencoder's blocks onto the latent grid, smoothed so that the zone an enlarged structure grows into
is covered too, and scaled to a maximum of 1.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage as ndi

from braingen3d.core.geometry import Grid

from .configs import TrainingConfigError

PRIOR_STRUCTURES = ("ventricles", "csf", "gm", "wm", "brain")
"""Template maps a prior can name."""


def template_prior_maps(grid: Grid, downsampling: int, structures: list[str], smoothing_voxels: float) -> torch.Tensor:
    """``(len(structures), *latent shape)`` prior maps on the latent grid of ``grid``.

    Args:
        grid: the bundle's (MNI-aligned) image grid.
        downsampling: the autoencoder's downsampling factor.
        structures: template maps, from ``PRIOR_STRUCTURES``.
        smoothing_voxels: Gaussian sigma on the latent grid (0: none).
    """
    from training.cohort.templates import load_templates

    unknown = sorted(set(structures) - set(PRIOR_STRUCTURES))
    if unknown or not structures:
        raise TrainingConfigError(f"Config field 'architecture.unet.anatomical_prior.structures' is {structures!r}; "
                                  f"name one or more of {list(PRIOR_STRUCTURES)}.")
    if any(size % downsampling for size in grid.shape):
        raise TrainingConfigError(f"The grid {grid.shape} is not a multiple of the autoencoder's downsampling {downsampling}.")
    templates = load_templates(grid)
    latent_shape = tuple(size // downsampling for size in grid.shape)
    maps = []
    for name in structures:
        image = np.asarray(getattr(templates, name), dtype=np.float64)
        blocks = image.reshape(latent_shape[0], downsampling, latent_shape[1], downsampling, latent_shape[2], downsampling)
        latent = blocks.mean(axis=(1, 3, 5))
        if smoothing_voxels > 0:
            latent = ndi.gaussian_filter(latent, smoothing_voxels, mode="constant")
        peak = latent.max()
        if peak <= 0:
            raise TrainingConfigError(f"The template's {name} map is empty on the grid {grid.shape}; use a finer grid.")
        maps.append(latent / peak)
    return torch.from_numpy(np.stack(maps)).float()
