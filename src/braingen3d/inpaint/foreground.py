"""The head/brain foreground of a volume, used for normalisation, field of view and mask checks."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

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
