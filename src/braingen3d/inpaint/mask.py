"""Turning a user's mask file into a binary mask in the volume's grid."""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from .errors import MaskError
from .source import SourceImage

logger = logging.getLogger(__name__)

# Two grids are "the same" when every voxel centre agrees to within this fraction of a voxel.
GEOMETRY_TOLERANCE_VOXELS = 0.01


def binarise_mask(array: np.ndarray, name: str = "mask") -> np.ndarray:
    """A boolean mask (non-zero = lesion) from a binary mask or an integer label map.

    ``{0, 1}`` and boolean masks are taken as they are. Integer label maps (values such as 0/1/2)
    are accepted with a warning, every non-zero label counting as lesion. Fractional values (a
    probability map) and NaN are refused, because the threshold is the user's decision.

    Args:
        array: the mask data as read.
        name: how to name the mask in messages.
    """
    if array.dtype == bool:
        return array.copy()
    nonzero_values = array[array != 0]
    if np.issubdtype(array.dtype, np.floating):
        if np.isnan(nonzero_values).any():
            raise MaskError(f"The {name} contains NaN values. Save it as a binary (0/1) mask.")
        fractional = nonzero_values[nonzero_values != np.round(nonzero_values)]
        if fractional.size:
            raise MaskError(
                f"The {name} holds fractional values (e.g. {float(fractional[0]):.3g}); it looks like a probability map. "
                "Threshold it (for example at 0.5) and save a binary 0/1 mask."
            )
    labels = np.unique(nonzero_values)
    if labels.size and not (labels.size == 1 and labels[0] == 1):
        logger.warning("The %s holds labels %s; every non-zero label is treated as lesion.", name,
                       ", ".join(f"{v:g}" for v in labels[:10].astype(float)))
    return array != 0


def geometry_difference(shape_a: tuple[int, ...], affine_a: np.ndarray, shape_b: tuple[int, ...],
                        affine_b: np.ndarray) -> str | None:
    """Why two grids differ (shape, or the largest voxel-centre offset), or None if they are the same."""
    if tuple(shape_a) != tuple(shape_b):
        return f"the mask has shape {tuple(shape_b)} but the volume has shape {tuple(shape_a)}"
    corners = np.array([[i, j, k, 1.0] for i in (0, shape_a[0] - 1) for j in (0, shape_a[1] - 1) for k in (0, shape_a[2] - 1)])
    offset_mm = float(np.max(np.linalg.norm((corners @ (affine_a - affine_b).T)[:, :3], axis=1)))
    min_spacing = float(np.min(np.linalg.norm(affine_a[:3, :3], axis=0)))
    if offset_mm > GEOMETRY_TOLERANCE_VOXELS * min_spacing:
        return f"the mask's voxel-to-world matrix differs from the volume's (voxel centres move by up to {offset_mm:.3g} mm)"
    return None


def resample_nearest(mask: np.ndarray, mask_affine: np.ndarray, shape: tuple[int, int, int],
                     affine: np.ndarray) -> np.ndarray:
    """Nearest-neighbour resampling of a boolean mask into the grid (``shape``, ``affine``)."""
    index_map = np.linalg.inv(mask_affine) @ affine  # target voxel index -> mask voxel index
    resampled = ndimage.affine_transform(mask.astype(np.uint8), index_map[:3, :3], offset=index_map[:3, 3],
                                         output_shape=tuple(shape), order=0, mode="constant", cval=0)
    return resampled.astype(bool)


def mask_in_volume_grid(mask: SourceImage, volume: SourceImage, resample: bool = False) -> np.ndarray:
    """The mask as a boolean array in the volume's grid.

    Args:
        mask: the mask as read.
        volume: the volume it belongs to.
        resample: if the grids differ, resample the mask (nearest neighbour) instead of refusing.
    """
    binary = binarise_mask(mask.array, f"mask {mask.name}")
    difference = geometry_difference(volume.shape, volume.affine, mask.shape, mask.affine)
    if difference is None:
        return binary
    if not resample:
        raise MaskError(
            f"The mask {mask.name} is not in the volume's grid: {difference}. Save the mask on the volume's grid, "
            "or pass --resample-mask (worker: \"resample_mask\": true) to resample it nearest-neighbour into the volume's grid."
        )
    if not binary.any():
        raise MaskError(f"The mask {mask.name} is empty (no non-zero voxels). Draw the lesion region first.")
    logger.info("Resampling the mask into the volume's grid (%s).", difference)
    resampled = resample_nearest(binary, mask.affine, volume.shape, volume.affine)
    if not resampled.any():
        raise MaskError(
            f"The mask {mask.name} does not overlap the volume {volume.name}: none of its voxels falls inside the volume "
            "(or the region is thinner than one volume voxel). Check that both files share a coordinate system."
        )
    return resampled
