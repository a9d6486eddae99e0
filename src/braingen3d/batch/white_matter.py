"""A white-matter estimate computed from a generated image alone (no atlas, no ``training`` import).

The brain is the image's foreground (the same mask inpainting checks lesion masks against). Inside
its eroded core, the intensities are split into three classes by two thresholds chosen with Otsu's
criterion (the pair that maximises the between-class variance of the histogram, found exhaustively,
so the result is deterministic and global); which class is white matter follows
from the contrast: the brightest on T1, the middle one on FLAIR (grey > white > CSF), the darkest
on T2 and PD (CSF > grey > white). On a trained bundle these classes are the tissues; on a random
test bundle they are arbitrary, which is why lesion placement falls back to the brain mask.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.intensity import foreground_mask

#: Index of the white-matter class among three intensity classes sorted dark to bright.
WHITE_MATTER_CLASS = {"T1": 2, "FLAIR": 1, "T2": 0, "PD": 0}
HISTOGRAM_BINS = 128


def otsu_thresholds(values: np.ndarray, bins: int = HISTOGRAM_BINS) -> tuple[float, float]:
    """The two thresholds that split ``values`` into three classes with the largest between-class variance.

    Args:
        values: 1-D intensities (at least two distinct values).
        bins: histogram bins; every pair of bin edges is tried.
    """
    counts, edges = np.histogram(np.asarray(values, dtype=np.float64), bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts, dtype=np.float64)
    moment = np.cumsum(counts * centres)
    total_weight, total_moment = weight[-1], moment[-1]
    # Class 0 = bins [0, a], class 1 = (a, b], class 2 = (b, end]; score = sum of w * mean^2 per class.
    a, b = np.meshgrid(np.arange(bins - 2), np.arange(bins - 1), indexing="ij")
    valid = b > a
    w0, m0 = weight[a], moment[a]
    w1, m1 = weight[b] - w0, moment[b] - m0
    w2, m2 = total_weight - weight[b], total_moment - moment[b]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(w0 > 0, m0 ** 2 / w0, 0) + np.where(w1 > 0, m1 ** 2 / w1, 0) + np.where(w2 > 0, m2 ** 2 / w2, 0)
    score = np.where(valid & (w0 > 0) & (w1 > 0) & (w2 > 0), score, -np.inf)
    best_a, best_b = np.unravel_index(int(np.argmax(score)), score.shape)
    return float(edges[best_a + 1]), float(edges[best_b + 1])


def intensity_classes(values: np.ndarray) -> np.ndarray:
    """Class index of every value among three intensity classes: 0 darkest, 2 brightest (multi-Otsu)."""
    low, high = otsu_thresholds(values)
    return np.digitize(np.asarray(values, dtype=np.float64), [low, high], right=True)


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
