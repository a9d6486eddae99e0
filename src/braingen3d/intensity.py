"""Intensity normalisation shared by training and inference."""

from __future__ import annotations

import numpy as np

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
