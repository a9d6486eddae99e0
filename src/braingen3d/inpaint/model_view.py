"""What the model sees: the volume and mask on the model grid, normalised as in training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bundle import BundleConfig
from ..geometry import Grid
from .blend import BlendRegion, blend_region
from .inputs import InpaintInputs
from .intensity_map import IntensityMap
from .latents import latent_downsampling
from .model_space import choose_model_grid, mask_to_grid, resample_to_grid, voxels_to_world


@dataclass
class ModelView:
    """The model-side inputs of one call and the way back to the volume.

    Args:
        grid: the model grid (bundle shape, spacing and axes).
        intensity: the map between the volume's intensities and the model's [0, 1].
        image: the normalised volume resampled (trilinear) into ``grid``; 0 outside the volume.
        mask: the lesion mask in ``grid`` (covers every lesion voxel).
        region: the volume-grid voxels to composite (mask + blend margin) and their weights.
    """

    grid: Grid
    intensity: IntensityMap
    image: np.ndarray
    mask: np.ndarray
    region: BlendRegion


def build_model_view(inputs: InpaintInputs, config: BundleConfig, blend_margin_mm: float) -> ModelView:
    """Normalise, choose the model grid around the foreground and the edited region, and resample into it.

    Args:
        inputs: the validated volume, mask and foreground.
        config: the bundle's config (grid, intensity percentiles, autoencoder downsampling).
        blend_margin_mm: width of the feathered band around the mask.
    """
    volume = inputs.volume
    region = blend_region(inputs.mask, volume.spacing, blend_margin_mm)
    latent_voxel_mm = latent_downsampling(config) * max(config.grid.spacing)
    grid = choose_model_grid(config.grid, volume.shape, volume.affine, inputs.foreground,
                             voxels_to_world(region.indices, volume.affine), edge_mm=latent_voxel_mm)
    percentiles = tuple(config.intensity.get("percentiles", (0.5, 99.5)))
    intensity = IntensityMap.fit(volume.array, inputs.foreground, percentiles)
    normalised = intensity.normalise(volume.array, inputs.foreground)
    image = np.clip(resample_to_grid(normalised, volume.affine, grid, order=1, cval=0.0), 0.0, 1.0)
    return ModelView(grid, intensity, image, mask_to_grid(inputs.mask, volume.affine, grid), region)
