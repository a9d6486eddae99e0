"""What the model sees of a user's volume: the model grid, the intensity map, the image and mask on that grid,
and their latents.

The model works on the bundle's grid: its shape, spacing and axes (RAS). A volume already on that
grid is used as it is. Any other volume gets a grid of the same shape, spacing and axes, translated
so it is centred on the volume's foreground (the head or brain) and contains the whole edited region.
Scanner RAS axes follow the patient, not the slice prescription, so an oblique acquisition still
shows the model an upright brain; only the translation is adapted. Intensities are mapped to the
bundle's [0, 1] range as in training (``IntensityMap``), the image is encoded to its latent and the mask
max-pooled onto the latent grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ...bundle import BundleConfig
from ...core.geometry import Grid
from ...core.intensity import bounding_box_world, robust_normalise
from .blend import BlendRegion, blend_region
from .inputs import InpaintInputs, MaskError


@dataclass(frozen=True)
class IntensityMap:
    """``normalised = clip((value - low) / (high - low), 0, 1)``, as ``robust_normalise`` does in training.

    Args:
        low: the input intensity mapped to 0.
        high: the input intensity mapped to 1.
        percentiles: the foreground percentiles ``low`` and ``high`` came from.
    """

    low: float
    high: float
    percentiles: tuple[float, float]

    @classmethod
    def fit(cls, array: np.ndarray, foreground: np.ndarray, percentiles: tuple[float, float]) -> "IntensityMap":
        """The map ``robust_normalise(array, percentiles, foreground)`` applies."""
        data = np.asarray(array, dtype=np.float32)
        low, high = np.percentile(data[foreground.astype(bool)], percentiles)
        return cls(float(low), float(high), tuple(float(p) for p in percentiles))

    def normalise(self, array: np.ndarray, foreground: np.ndarray) -> np.ndarray:
        """The model's view of ``array``, computed by the training code's own function."""
        return robust_normalise(array, self.percentiles, mask=foreground)

    def to_model_scale(self, values: np.ndarray) -> np.ndarray:
        """The linear part alone, not clipped (float64): input intensities on the model's scale."""
        return (np.asarray(values, dtype=np.float64) - self.low) / (self.high - self.low)

    def to_input_scale(self, normalised: np.ndarray) -> np.ndarray:
        """Inverse of the linear part: model intensities back on the input's scale (float64)."""
        return self.low + np.asarray(normalised, dtype=np.float64) * (self.high - self.low)

    def to_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "percentiles": list(self.percentiles)}


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


def voxels_to_world(indices: tuple[np.ndarray, ...] | np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(n, 3) RAS positions (mm) of voxel indices given as an ``np.nonzero`` tuple or an (n, 3) array."""
    points = np.stack(indices, axis=1) if isinstance(indices, tuple) else np.asarray(indices)
    return points.astype(float) @ affine[:3, :3].T + affine[:3, 3]


def world_to_voxels(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(n, 3) continuous voxel indices of RAS ``points`` (mm) in the grid of ``affine``."""
    inverse = np.linalg.inv(affine)
    return np.asarray(points, dtype=float) @ inverse[:3, :3].T + inverse[:3, 3]


def same_grid(shape: tuple[int, ...], affine: np.ndarray, grid: Grid, tolerance_mm: float = 1e-3) -> bool:
    return tuple(shape) == tuple(grid.shape) and np.allclose(affine, grid.affine, atol=tolerance_mm)


def choose_model_grid(bundle_grid: Grid, volume_shape: tuple[int, int, int], volume_affine: np.ndarray,
                      foreground: np.ndarray, required_world: np.ndarray, edge_mm: float = 0.0) -> Grid:
    """The grid the model sees for this volume.

    Args:
        bundle_grid: the bundle's grid (shape, spacing, axes).
        volume_shape: shape of the user's volume.
        volume_affine: its voxel-to-RAS matrix.
        foreground: its foreground mask; the grid is centred on the foreground's bounding box.
        required_world: (n, 3) RAS points (the edited region) that must lie inside the grid.
        edge_mm: keep required points at least this far from the grid's edge when possible.
    """
    if same_grid(volume_shape, volume_affine, bundle_grid):
        return bundle_grid
    spacing = np.asarray(bundle_grid.spacing)
    axes = bundle_grid.affine[:3, :3] / spacing  # unit direction of each grid axis (columns)
    span = (np.asarray(bundle_grid.shape) - 1) * spacing  # first to last voxel centre, per axis

    low, high = bounding_box_world(foreground, volume_affine)
    centre = axes.T @ ((low + high) / 2)  # in grid-axis coordinates
    required = np.asarray(required_world, dtype=float) @ axes  # (n, 3) in grid-axis coordinates
    need_low, need_high = required.min(axis=0), required.max(axis=0)
    if np.any(need_high - need_low > span):
        raise MaskError(
            f"The edited region spans {np.round(need_high - need_low, 1).tolist()} mm, more than the model's field of view "
            f"{np.round(span, 1).tolist()} mm. Draw a smaller lesion region."
        )
    # Shift the centre just enough that the required region (with an edge margin when it fits) is inside.
    edge = np.minimum(edge_mm, (span - (need_high - need_low)) / 2)
    centre = np.clip(centre, need_high + edge - span / 2, need_low - edge + span / 2)
    affine = np.eye(4)
    affine[:3, :3] = axes * spacing
    affine[:3, 3] = axes @ (centre - span / 2)
    return Grid(tuple(bundle_grid.shape), affine)


def resample_to_grid(array: np.ndarray, affine: np.ndarray, grid: Grid, order: int = 1, cval: float = 0.0) -> np.ndarray:
    """Resample ``array`` (grid of ``affine``) into ``grid``: trilinear for ``order=1``; ``cval`` outside."""
    if same_grid(array.shape, affine, grid):
        return np.asarray(array, dtype=np.float32).copy()
    index_map = np.linalg.inv(affine) @ grid.affine  # model voxel index -> volume voxel index
    return ndimage.affine_transform(np.asarray(array, dtype=np.float32), index_map[:3, :3], offset=index_map[:3, 3],
                                    output_shape=tuple(grid.shape), order=order, mode="constant", cval=cval)


def mask_to_grid(mask: np.ndarray, affine: np.ndarray, grid: Grid) -> np.ndarray:
    """A boolean mask in ``grid`` that covers every voxel of ``mask``.

    Nearest-neighbour pull marks model voxels whose centre falls in a mask voxel; the push marks the
    model voxel nearest to each mask voxel, so lesions thinner than a model voxel are not lost.
    """
    if same_grid(mask.shape, affine, grid):
        return mask.astype(bool).copy()
    pulled = resample_to_grid(mask.astype(np.float32), affine, grid, order=0) > 0.5
    targets = np.rint(world_to_voxels(voxels_to_world(np.nonzero(mask), affine), grid.affine)).astype(int)
    inside = np.all((targets >= 0) & (targets < np.asarray(grid.shape)), axis=1)
    pushed = targets[inside]
    pulled[pushed[:, 0], pushed[:, 1], pushed[:, 2]] = True
    return pulled


def sample_at_voxels(image: np.ndarray, grid: Grid, indices: tuple[np.ndarray, ...], affine: np.ndarray) -> np.ndarray:
    """Trilinear samples of a model-grid ``image`` at the volume voxels ``indices`` (grid of ``affine``)."""
    coords = world_to_voxels(voxels_to_world(indices, affine), grid.affine).T
    return ndimage.map_coordinates(np.asarray(image, dtype=np.float32), coords, order=1, mode="nearest")


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
