"""Feathered compositing in the volume's own grid: generated inside the mask, original outside the margin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass
class BlendRegion:
    """The voxels that receive generated content and their weights.

    Args:
        indices: ``np.nonzero``-style (i, j, k) index arrays of the region (mask + margin).
        weights: float32 weight of the generated value at each voxel: 1 in the mask, falling
            smoothly to 0 at ``margin_mm`` from it. Voxels not listed keep their original value.
        margin_mm: the blend margin.
    """

    indices: tuple[np.ndarray, np.ndarray, np.ndarray]
    weights: np.ndarray
    margin_mm: float

    @property
    def size(self) -> int:
        return int(self.weights.size)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def crop_around(mask: np.ndarray, spacing: np.ndarray, reach_mm: float) -> tuple[slice, slice, slice]:
    """Slices of the bounding box of ``mask`` grown by ``reach_mm`` (plus one voxel), clipped to the grid."""
    nonzero = np.nonzero(mask)
    pad = np.ceil(reach_mm / np.asarray(spacing, dtype=float)).astype(int) + 1
    start = np.maximum([ax.min() for ax in nonzero] - pad, 0)
    stop = np.minimum([ax.max() + 1 for ax in nonzero] + pad, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(start, stop))


def blend_region(mask: np.ndarray, spacing: tuple[float, float, float], margin_mm: float) -> BlendRegion:
    """Weights from a Euclidean distance transform in mm (``spacing`` per axis), on a crop around the mask.

    Args:
        mask: boolean lesion mask in the volume's grid.
        spacing: voxel size per axis in mm.
        margin_mm: width of the feathered band outside the mask; 0 gives a hard edge.
    """
    spacing = np.asarray(spacing, dtype=float)
    crop = crop_around(mask, spacing, margin_mm)
    start = [c.start for c in crop]
    inside = mask[crop].astype(bool)
    if margin_mm > 0:
        distance = ndimage.distance_transform_edt(~inside, sampling=spacing)
        weights = _smoothstep(np.clip(1.0 - distance / margin_mm, 0.0, 1.0)).astype(np.float32)
    else:
        weights = inside.astype(np.float32)
    local = np.nonzero(weights > 0)
    indices = tuple(ax + int(offset) for ax, offset in zip(local, start))
    return BlendRegion(indices, weights[local], float(margin_mm))


def cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Convert float values to ``dtype``: rounded and clipped to the range of integer types."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def composite(original: np.ndarray, region: BlendRegion, generated: np.ndarray) -> np.ndarray:
    """``original`` with ``generated`` (one value per region voxel) feathered in; all other voxels untouched.

    Args:
        original: the volume as read (any real dtype); it is not modified.
        region: where and how strongly to blend.
        generated: generated intensities on the original's scale, one per region voxel.
    """
    output = original.copy()
    before = original[region.indices].astype(np.float64)
    blended = region.weights * np.asarray(generated, dtype=np.float64) + (1.0 - region.weights) * before
    output[region.indices] = cast_like(blended, original.dtype)
    return output
