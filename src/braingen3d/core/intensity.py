"""Intensities: the robust normalisation shared by training and inference, and a volume's head/brain
foreground (used for normalisation, field of view and mask checks).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .errors import InvalidInputError


def robust_normalise(
    array: np.ndarray,
    percentiles: tuple[float, float] = (0.5, 99.5),
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Map the given percentiles of the foreground to 0 and 1, then clip to [0, 1].

    Args:
        array: the image, any shape.
        percentiles: lower and upper percentile mapped to 0 and 1.
        mask: optional boolean foreground mask; by default voxels above the image minimum.

    Returns:
        A float32 array of the same shape.
    """
    data = np.asarray(array, dtype=np.float32)
    if not np.all(np.isfinite(data)):
        raise InvalidInputError("The volume contains NaN or infinite values; fix or mask them before use.")
    foreground = data[mask.astype(bool)] if mask is not None else data[data > data.min()]
    if foreground.size == 0:
        raise InvalidInputError("The volume is constant; there is no image content to normalise.")
    low, high = np.percentile(foreground, percentiles)
    if high <= low:
        raise InvalidInputError("The volume's foreground is constant; there is no contrast to normalise.")
    return np.clip((data - low) / (high - low), 0.0, 1.0).astype(np.float32)


# A volume whose minimum fills at least this fraction is zero-padded (skull-stripped or registered):
# everything above the minimum is foreground.
PADDED_BACKGROUND_FRACTION = 0.10
# Otherwise the background threshold is this fraction of the way from the minimum to the 99.5th percentile.
NOISE_THRESHOLD_FRACTION = 0.05


def background_threshold(array: np.ndarray) -> float:
    """Intensity at or below which a voxel counts as background."""
    data = np.asarray(array, dtype=np.float32)
    low = float(data.min())
    if np.count_nonzero(data == low) >= PADDED_BACKGROUND_FRACTION * data.size:
        return low
    high = float(np.percentile(data, 99.5))
    return low + NOISE_THRESHOLD_FRACTION * (high - low)


def foreground_mask(array: np.ndarray) -> np.ndarray:
    """Voxels above the background threshold, with enclosed holes (e.g. dark ventricles) filled."""
    above = np.asarray(array, dtype=np.float32) > background_threshold(array)
    return ndimage.binary_fill_holes(above)


def bounding_box_world(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RAS minimum and maximum (mm) of the voxel-index bounding box of ``mask``, from its 8 corners."""
    indices = np.nonzero(mask)
    low = np.array([ax.min() for ax in indices], dtype=float)
    high = np.array([ax.max() for ax in indices], dtype=float)
    corners = np.array([[a, b, c, 1.0] for a in (low[0], high[0]) for b in (low[1], high[1]) for c in (low[2], high[2])])
    world = (corners @ np.asarray(affine, dtype=float).T)[:, :3]
    return world.min(axis=0), world.max(axis=0)
