"""Masks: the in-brain mask of one volume and the head region of the reference cohort.

Every volume's in-brain mask is estimated from the image by the same rule, generated or reference,
so that a difference in a measure is a difference of the images and not of how they were masked.
The background is measured outside the *reference* head region (the union of the reference
subjects' brain masks, dilated), the same voxels for every volume, so that speckle in a generated
volume cannot enlarge its own mask and hide.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

FOREGROUND_LEVEL = 0.05
"""Intensity (on the [0, 1] scale) above which a voxel may belong to the brain."""
HEAD_MARGIN_VOXELS = 2
DETAIL_EROSION_VOXELS = 3


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum(mask, labels, index=np.arange(1, count + 1))
    return labels == (int(np.argmax(sizes)) + 1)


def brain_mask(array: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """Voxels above ``FOREGROUND_LEVEL``, opened by one voxel, largest component, holes filled, within ``region``."""
    mask = array > FOREGROUND_LEVEL
    if region is not None:
        mask &= region
    opened = ndimage.binary_opening(mask, iterations=1)
    mask = opened if opened.any() else mask
    mask = ndimage.binary_fill_holes(_largest_component(mask))
    return mask


def head_region(brain_masks: list[np.ndarray], margin: int = HEAD_MARGIN_VOXELS) -> np.ndarray:
    """The union of ``brain_masks``, dilated by ``margin`` voxels: where a head may be."""
    union = np.logical_or.reduce([np.asarray(m, bool) for m in brain_masks])
    return ndimage.binary_dilation(union, iterations=margin) if margin > 0 else union


def detail_mask(brain: np.ndarray, erosion: int = DETAIL_EROSION_VOXELS) -> np.ndarray:
    """The brain mask eroded by ``erosion`` voxels, so the brain's outer edge does not count as detail."""
    eroded = ndimage.binary_erosion(brain, iterations=erosion)
    return eroded if eroded.any() else brain
