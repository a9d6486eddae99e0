"""Does an inpainted lesion show the contrast its prompt asked for?

The check reads the prompt ("hyperintensity", "hypointense", "bright", "black hole" ...) and compares
the mean inside the mask with the median of the untouched tissue around it, on the model's [0, 1]
intensity scale (the bundle's robust normalisation of the source), so that it does not depend on the
volume's units or offset. Inpainting retries with the next seed when a sample misses the requested
contrast, as MAISI's quality check regenerates a CT whose organ intensities fall outside the range
seen in training. A prompt that asks for no particular contrast is not checked.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..errors import InvalidInputError
from ..lesion_wording import NO_LESION
from .blend import crop_around
from .intensity_map import IntensityMap

HYPERINTENSE = "hyperintense"
HYPOINTENSE = "hypointense"

_HYPER_WORDS = re.compile(r"hyper[- ]?intens|\bbright|\bhigh[- ]signal")
_HYPO_WORDS = re.compile(r"hypo[- ]?intens|\bdark|\blow[- ]signal|black[- ]hole")

DEFAULT_MIN_CONTRAST = 1.1
"""A hyperintense lesion's mean must be at least this times the surrounding tissue's median (hypointense:
at most its inverse). The same margin the inpainting report asks of a FLAIR or T2 lesion."""
MAX_MIN_CONTRAST = 3.0
DEFAULT_ATTEMPTS = 3
MAX_ATTEMPTS = 10
SHELL_MM = 8.0
"""How far beyond the blend margin the surrounding tissue reaches (at least two voxels on coarse grids)."""


def requested_contrast(prompt: str) -> str | None:
    """``hyperintense``, ``hypointense`` or None (no contrast named, no lesion wanted, or both named)."""
    text = prompt.lower()
    if NO_LESION.search(text):
        return None
    hyper, hypo = bool(_HYPER_WORDS.search(text)), bool(_HYPO_WORDS.search(text))
    if hyper == hypo:
        return None
    return HYPERINTENSE if hyper else HYPOINTENSE


@dataclass
class ContrastAttempt:
    """One sample's measured contrast: ``ratio`` = lesion mean / surrounding median (model scale)."""

    seed: int
    ratio: float
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ContrastCheck:
    """The contrast a prompt asks for and the margin a sample must reach.

    Args:
        requested: ``hyperintense``, ``hypointense`` or None (every sample passes).
        min_ratio: the margin (>= 1); a hypointense lesion must reach ``1 / min_ratio``.
    """

    requested: str | None
    min_ratio: float = DEFAULT_MIN_CONTRAST

    @classmethod
    def for_prompt(cls, prompt: str, min_ratio: float = DEFAULT_MIN_CONTRAST) -> "ContrastCheck":
        return cls(requested_contrast(prompt), float(min_ratio))

    def passes(self, ratio: float) -> bool:
        if self.requested is None:
            return True
        if not np.isfinite(ratio):
            return False
        return ratio >= self.min_ratio if self.requested == HYPERINTENSE else ratio <= 1.0 / self.min_ratio

    def better(self, ratio: float, than: float) -> bool:
        """Whether ``ratio`` is closer to what was asked than ``than`` (for keeping the best failed attempt)."""
        if not np.isfinite(than):
            return np.isfinite(ratio)
        return ratio > than if self.requested != HYPOINTENSE else ratio < than


def validate_contrast_settings(attempts: int | None, min_contrast: float | None) -> tuple[int, float]:
    """Defaults filled and ranges checked: ``attempts`` 1..10, ``min_contrast`` 1..3."""
    attempts = DEFAULT_ATTEMPTS if attempts is None else attempts
    min_contrast = DEFAULT_MIN_CONTRAST if min_contrast is None else min_contrast
    if isinstance(attempts, bool) or not isinstance(attempts, (int, np.integer)) or not 1 <= attempts <= MAX_ATTEMPTS:
        raise InvalidInputError(f"attempts must be a whole number from 1 to {MAX_ATTEMPTS} "
                                f"(1 switches the contrast check's retries off); got {attempts!r}.")
    if isinstance(min_contrast, bool) or not isinstance(min_contrast, (int, float)) or \
            not 1.0 <= float(min_contrast) <= MAX_MIN_CONTRAST:
        raise InvalidInputError(f"min_contrast must be a number from 1 to {MAX_MIN_CONTRAST:g} "
                                f"(lesion mean / surrounding tissue); got {min_contrast!r}.")
    return int(attempts), float(min_contrast)


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
