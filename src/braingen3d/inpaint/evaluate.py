"""Measures for judging an inpainted lesion (used by the quality check once a trained bundle exists)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..errors import InvalidInputError


@dataclass
class LesionContrast:
    """Lesion-to-white-matter contrast before and after inpainting.

    Args:
        lesion_mean: mean inpainted intensity inside the mask.
        surround_wm_mean: mean inpainted intensity of white matter outside the mask, within ``shell_mm`` of it.
        ratio: ``lesion_mean / surround_wm_mean`` (> 1 for a hyperintense lesion on FLAIR/T2).
        original_ratio: the same ratio in the original volume.
        surround_voxels: white-matter voxels the surrounding mean uses.
    """

    lesion_mean: float
    surround_wm_mean: float
    ratio: float
    original_ratio: float
    surround_voxels: int

    def to_dict(self) -> dict:
        return asdict(self)


def lesion_contrast(original: np.ndarray, inpainted: np.ndarray, mask: np.ndarray, wm_mask: np.ndarray,
                    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0), shell_mm: float = 10.0) -> LesionContrast:
    """Inside-mask mean versus the mean of the surrounding white matter, before and after.

    Args:
        original: the source volume.
        inpainted: the inpainted volume (same grid).
        mask: the lesion mask (non-zero = lesion).
        wm_mask: white-matter mask (non-zero = white matter), e.g. from a segmentation.
        spacing: voxel size in mm, for the shell.
        shell_mm: how far from the lesion the surrounding white matter reaches.
    """
    arrays = (original, inpainted, mask, wm_mask)
    if len({np.shape(a) for a in arrays}) != 1:
        raise InvalidInputError(f"original, inpainted, mask and wm_mask must share one shape; got {[np.shape(a) for a in arrays]}.")
    lesion = np.asarray(mask) != 0
    if not lesion.any():
        raise InvalidInputError("The lesion mask is empty.")
    distance = ndimage.distance_transform_edt(~lesion, sampling=spacing)
    surround = (np.asarray(wm_mask) != 0) & ~lesion & (distance <= shell_mm)
    if not surround.any():
        raise InvalidInputError(f"No white matter lies within {shell_mm:g} mm of the lesion; widen shell_mm or check wm_mask.")
    after = np.asarray(inpainted, dtype=np.float64)
    before = np.asarray(original, dtype=np.float64)
    lesion_mean, surround_mean = float(after[lesion].mean()), float(after[surround].mean())
    original_surround = float(before[surround].mean())
    return LesionContrast(
        lesion_mean=lesion_mean,
        surround_wm_mean=surround_mean,
        ratio=lesion_mean / surround_mean if surround_mean else float("nan"),
        original_ratio=float(before[lesion].mean()) / original_surround if original_surround else float("nan"),
        surround_voxels=int(surround.sum()),
    )


def max_change_outside(original: np.ndarray, inpainted: np.ndarray, region: np.ndarray) -> float:
    """Largest absolute difference outside ``region`` (must be 0 for a correct inpainting)."""
    outside = ~np.asarray(region, dtype=bool)
    if not outside.any():
        return 0.0
    return float(np.max(np.abs(np.asarray(inpainted, dtype=np.float64)[outside] - np.asarray(original, dtype=np.float64)[outside])))
