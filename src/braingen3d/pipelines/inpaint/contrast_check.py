"""Does an inpainted lesion show the contrast its prompt asked for, and how to measure a lesion's contrast.

The check reads the prompt ("hyperintensity", "hypointense", "bright", "black hole" ...; the parser's
``requested_contrast``) and compares the mean inside the mask with the median of the untouched tissue around
it, on the model's [0, 1] intensity scale (the bundle's robust normalisation of the source), so that it does
not depend on the volume's units or offset. Inpainting retries with the next seed when a sample misses the
requested contrast, as MAISI's quality check regenerates a CT whose organ intensities fall outside the range
seen in training. A prompt that asks for no particular contrast is not checked.

``lesion_contrast`` and ``max_change_outside`` judge an inpainted lesion against white matter and the
untouched voxels (the inpainting quality report uses them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ...core.errors import InvalidInputError
from .blend import crop_around
from .model_space import IntensityMap

SHELL_MM = 8.0
"""How far beyond the blend margin the surrounding tissue reaches (at least two voxels on coarse grids)."""


@dataclass
class ContrastAttempt:
    """One sample's measured contrast: ``ratio`` = lesion mean / surrounding median (model scale)."""

    seed: int
    ratio: float
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


class SurroundingTissue:
    """The untouched foreground voxels within ``SHELL_MM`` (or two voxels) beyond the composited region, and their median.

    ``reference`` is None when no foreground lies there or its median is at the dark end of the scale
    (no ratio can be formed); the contrast then cannot be checked.

    Args:
        source: the source volume.
        mask: the lesion mask (source grid).
        region: boolean (source grid) of every voxel inpainting may change (mask + blend margin).
        foreground: the source's head/brain foreground.
        spacing: voxel size per axis in mm.
        intensity: the source's map onto the model's [0, 1] scale.
    """

    def __init__(self, source: np.ndarray, mask: np.ndarray, region: np.ndarray, foreground: np.ndarray,
                 spacing: tuple[float, float, float], intensity: IntensityMap) -> None:
        self.intensity = intensity
        spacing_arr = np.asarray(spacing, dtype=float)
        reach = max(SHELL_MM, 2.0 * float(spacing_arr.max()))
        crop = crop_around(region, spacing_arr, reach)
        distance = ndimage.distance_transform_edt(~region[crop], sampling=spacing_arr)
        shell = (distance > 0) & (distance <= reach) & foreground[crop].astype(bool)
        reference = float(np.median(self.intensity.to_model_scale(np.asarray(source)[crop][shell]))) if shell.any() else 0.0
        self.reference: float | None = reference if reference > 0.0 else None
        self.mask = np.asarray(mask, dtype=bool)

    def ratio(self, inpainted: np.ndarray) -> float:
        """Mean of ``inpainted`` inside the mask over the surrounding median, both on the model scale (unclipped, so a
        lesion brighter than the 99.5th percentile still counts)."""
        if self.reference is None:
            return float("nan")
        return float(self.intensity.to_model_scale(np.asarray(inpainted)[self.mask]).mean() / self.reference)


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
