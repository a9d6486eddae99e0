"""A white-matter estimate computed from a generated image alone (no atlas, no ``training`` import).

The brain is the image's foreground (the same mask inpainting checks lesion masks against). Inside
its eroded core, the intensities are split into three classes (1-D k-means, started at the 20th,
50th and 80th percentiles, so the result is deterministic); which class is white matter follows
from the contrast: the brightest on T1, the middle one on FLAIR (grey > white > CSF), the darkest
on T2 and PD (CSF > grey > white). On a trained bundle these classes are the tissues; on a random
test bundle they are arbitrary, which is why lesion placement falls back to the brain mask.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..inpaint.foreground import foreground_mask

#: Index of the white-matter class among three intensity classes sorted dark to bright.
WHITE_MATTER_CLASS = {"T1": 2, "FLAIR": 1, "T2": 0, "PD": 0}
_ITERATIONS = 30


def intensity_classes(values: np.ndarray, classes: int = 3) -> np.ndarray:
    """Class index (0 = darkest) of every value, by 1-D k-means from percentile starting centres.

    Args:
        values: 1-D intensities.
        classes: number of classes.
    """
    values = np.asarray(values, dtype=np.float64)
    centres = np.percentile(values, np.linspace(20, 80, classes))
    labels = np.zeros(values.shape, dtype=np.int64)
    for _ in range(_ITERATIONS):
        labels = np.argmin(np.abs(values[:, None] - centres[None, :]), axis=1)
        updated = np.array([values[labels == c].mean() if np.any(labels == c) else centres[c] for c in range(classes)])
        if np.allclose(updated, centres):
            break
        centres = updated
    order = np.argsort(centres)  # empty classes keep their start, so the order stays dark to bright
    rank = np.empty(classes, dtype=np.int64)
    rank[order] = np.arange(classes)
    return rank[labels]


def eroded(mask: np.ndarray) -> np.ndarray:
    """``mask`` eroded by one voxel, or ``mask`` itself if erosion would leave nothing."""
    core = ndimage.binary_erosion(mask)
    return core if core.any() else mask


def brain_and_white_matter(image: np.ndarray, modality: str) -> tuple[np.ndarray, np.ndarray]:
    """The brain (foreground) mask and a white-matter estimate inside it.

    Args:
        image: the generated volume in (i, j, k) order.
        modality: T1, T2, FLAIR or PD (decides which intensity class is white matter).

    Returns:
        ``(brain, white_matter)`` boolean masks; white matter may be empty for tiny or flat images.
    """
    brain = foreground_mask(image)
    white_matter = np.zeros_like(brain)
    core = eroded(brain)
    values = np.asarray(image)[core]
    if values.size >= 3 and values.max() > values.min():
        white_matter[core] = intensity_classes(values) == WHITE_MATTER_CLASS[modality]
    return brain, white_matter
