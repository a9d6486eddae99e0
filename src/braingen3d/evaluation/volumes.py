"""Reading volumes onto the bundle's grid and intensity scale, and the evaluation's sample type."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .engine_adapter import Grid, InvalidInputError, read_volume, robust_normalise
from .masks import brain_mask, head_region
from .sources import VolumeSource

logger = logging.getLogger(__name__)

RANGE_TOLERANCE = 1e-3


@dataclass(eq=False)
class Sample:
    """A volume on the bundle grid, in [0, 1].

    Args:
        name: a short unique name (file stem or ``gen007``).
        subject: subject identifier (for generated volumes: the reference subject whose attributes it was prompted with).
        modality: ``T1``, ``T2``, ``FLAIR`` or ``PD``.
        array: float32 (i, j, k) array on the bundle grid.
        resampled: the source was on another grid and was resampled.
        normalised: the source was outside [0, 1] and was normalised with the bundle's rule.
        info: what else is known (prompt, seed, age, sex, source path).
        brain: its in-brain mask, set by :func:`assign_brain_masks`.
    """

    name: str
    subject: str
    modality: str
    array: np.ndarray
    resampled: bool = False
    normalised: bool = False
    info: dict = field(default_factory=dict)
    brain: np.ndarray | None = field(default=None, repr=False)


def on_grid(array: np.ndarray, affine: np.ndarray, grid: Grid) -> bool:
    return tuple(array.shape) == tuple(grid.shape) and np.allclose(affine, grid.affine, atol=1e-3)


def resample_to_grid(array: np.ndarray, affine: np.ndarray, grid: Grid) -> np.ndarray:
    """Linear resampling in world (RAS mm) coordinates onto ``grid``, Gaussian-smoothed first when downsampling."""
    source = np.asarray(array, dtype=np.float32)
    to_source = np.linalg.inv(affine[:3, :3]) @ grid.affine[:3, :3]
    sigma = np.maximum(np.abs(to_source).max(axis=1) - 1.0, 0.0) / 2.0
    if np.any(sigma > 0):
        source = ndimage.gaussian_filter(source, sigma, mode="constant")
    target_to_source = np.linalg.inv(affine) @ grid.affine
    return ndimage.affine_transform(source, target_to_source[:3, :3], offset=target_to_source[:3, 3],
                                    output_shape=tuple(grid.shape), order=1, mode="constant", cval=float(source.min()),
                                    prefilter=False).astype(np.float32)


def load_sample(source: VolumeSource, grid: Grid, percentiles: tuple[float, float], name: str | None = None) -> Sample:
    """Read ``source``, resample it onto ``grid`` if it lies elsewhere, and bring it to [0, 1].

    Volumes already in [0, 1] are kept as they are; others are normalised with the bundle's rule
    (``robust_normalise`` at the bundle's percentiles over the voxels above the minimum).
    """
    try:
        array, affine = read_volume(source.path)
    except InvalidInputError:
        raise
    except Exception as error:  # a file that passed the header check can still be truncated
        raise InvalidInputError(f"{source.path} cannot be read ({type(error).__name__}: {error}).") from error
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{source.path} contains NaN or infinite values; fix or mask them before evaluating.")
    resampled = not on_grid(array, affine, grid)
    if resampled:
        array = resample_to_grid(array, affine, grid)
    low, high = float(array.min()), float(array.max())
    normalised = low < -RANGE_TOLERANCE or high > 1.0 + RANGE_TOLERANCE
    if normalised:
        foreground = array > low
        array = robust_normalise(array, percentiles, foreground if foreground.any() else None)
        array[~foreground] = 0.0
    info = {"path": str(source.path), **{key: value for key, value in
                                         (("age", source.age), ("sex", source.sex), ("prompt", source.prompt),
                                          ("seed", source.seed), ("split", source.split)) if value is not None}}
    return Sample(name or source.path.name, source.subject, source.modality,
                  np.clip(array, 0.0, 1.0).astype(np.float32), resampled, normalised, info)


def assign_brain_masks(reference: list[Sample], others: list[Sample]) -> np.ndarray:
    """Set every sample's in-brain mask; return the reference head region.

    Reference masks are estimated first; their union (dilated) is the head region, and the other
    volumes' masks are confined to it.
    """
    for sample in reference:
        sample.brain = brain_mask(sample.array)
        if not sample.brain.any():
            raise InvalidInputError(f"Reference volume {sample.info.get('path', sample.name)} has no voxel above "
                                    "the foreground level; it is blank. Remove it from the reference.")
    region = head_region([sample.brain for sample in reference])
    for sample in others:
        sample.brain = brain_mask(sample.array, region)
        if not sample.brain.any():  # a blank volume is measured where a brain should be
            logger.warning("%s has no brain-like foreground; it is measured over the reference head region.", sample.name)
            sample.brain = region.copy()
    return region
