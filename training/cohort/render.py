"""Rendering MRI contrasts from partial-volume tissue fractions (plus bias field and noise)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from braingen3d.core.errors import InvalidInputError
from braingen3d.core.geometry import Grid
from braingen3d.core.intensity import robust_normalise
from braingen3d.prompts.vocabulary import MODALITIES

from .deform import field_grid_for, smooth_random_field, upsample

TISSUE_CONTRAST: dict[str, dict[str, float]] = {
    # Signal relative to white matter. Orderings: T2 CSF > GM > WM; FLAIR GM > WM > CSF (fluid
    # suppressed); PD CSF > GM > WM. Lesions are bright on T2, FLAIR and PD.
    "T2": {"csf": 2.6, "gm": 1.35, "wm": 1.0, "lesion": 2.0},
    "FLAIR": {"csf": 0.25, "gm": 1.35, "wm": 1.0, "lesion": 2.0},
    "PD": {"csf": 1.45, "gm": 1.18, "wm": 1.0, "lesion": 1.35},
}
"""Tissue signal of the modalities rendered from tissue fractions (T1 comes from the template)."""

T1_LESION_POSITION = 0.25
"""T1 lesion signal: this far from GM towards CSF (hypointense to GM and WM)."""

TEXTURE_WEIGHT = 0.5
"""How much of the template T1's within-tissue structure (deep nuclei, myelination) is carried,
inverted through the GM-WM contrast, into the other modalities."""


@dataclass
class TissueFractions:
    """Partial-volume fractions of one subject; they sum to the brain fraction.

    Attributes:
        csf: extra-ventricular CSF.
        ventricles: lateral-ventricle CSF.
        gm: grey matter.
        wm: white matter excluding lesions.
        lesion: white-matter lesion.
        brain: brain fraction.
    """

    csf: np.ndarray
    ventricles: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    lesion: np.ndarray
    brain: np.ndarray


def t1_tissue_signal(t1_means: dict[str, float]) -> dict[str, float]:
    """T1 signal per tissue (template means plus the derived lesion signal)."""
    lesion = t1_means["gm"] - T1_LESION_POSITION * (t1_means["gm"] - t1_means["csf"])
    return {**t1_means, "lesion": lesion}


def render_clean(
    modality: str,
    fractions: TissueFractions,
    template_t1: np.ndarray,
    template_fractions: TissueFractions,
    t1_means: dict[str, float],
    jitter: dict[str, float] | None = None,
) -> np.ndarray:
    """Noise-free signal of ``modality`` (un-normalised, WM about 1 except T1 from the template).

    T1 is the warped template T1, corrected for the tissue that changed after warping (cortical
    GM turned into CSF and WM turned into lesion) using the template's tissue means. The other
    modalities are the fraction-weighted tissue signals plus the template T1's within-tissue
    texture mapped through the GM-WM contrast.

    Args:
        modality: ``T1``, ``T2``, ``FLAIR`` or ``PD``.
        fractions: the subject's final tissue fractions.
        template_t1: template T1 warped to the subject.
        template_fractions: template fractions warped to the subject (before thinning and lesions).
        t1_means: template T1 tissue means.
        jitter: optional per-tissue multiplicative contrast factors.
    """
    jitter = jitter or {}
    t1_signal = t1_tissue_signal(t1_means)
    changed_gm = template_fractions.gm - fractions.gm
    if modality == "T1":
        lesion_signal = t1_signal["lesion"] * jitter.get("lesion", 1.0)
        return (
            template_t1
            + changed_gm * (t1_signal["csf"] - t1_signal["gm"])
            + fractions.lesion * (lesion_signal - t1_signal["wm"])
        ).astype(np.float32)
    if modality not in TISSUE_CONTRAST:
        raise InvalidInputError(f"Unknown modality {modality!r}; expected one of {MODALITIES}.")
    contrast = {tissue: value * jitter.get(tissue, 1.0) for tissue, value in TISSUE_CONTRAST[modality].items()}
    signal = (
        contrast["csf"] * (fractions.csf + fractions.ventricles)
        + contrast["gm"] * fractions.gm
        + contrast["wm"] * fractions.wm
        + contrast["lesion"] * fractions.lesion
    )
    # Within-tissue structure of the template T1 (what its tissue fractions do not explain).
    predicted_t1 = (
        t1_signal["csf"] * (template_fractions.csf + template_fractions.ventricles)
        + t1_signal["gm"] * template_fractions.gm
        + t1_signal["wm"] * template_fractions.wm
    )
    residual = (template_t1 - predicted_t1) * (fractions.gm + fractions.wm)
    slope = (contrast["gm"] - contrast["wm"]) / (t1_signal["gm"] - t1_signal["wm"])
    return (signal + TEXTURE_WEIGHT * slope * residual).astype(np.float32)


def bias_field(rng: np.random.Generator, grid: Grid, sd: float = 0.06) -> np.ndarray:
    """A smooth multiplicative bias field (log-normal, control points every 60 mm)."""
    coarse = field_grid_for(grid)
    return np.exp(upsample(smooth_random_field(rng, coarse, sd, 60.0), coarse, grid)).astype(np.float32)


def add_rician_noise(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise of ``sigma`` per channel."""
    real = signal + rng.normal(0.0, sigma, signal.shape).astype(np.float32)
    imaginary = rng.normal(0.0, sigma, signal.shape).astype(np.float32)
    return np.sqrt(real * real + imaginary * imaginary)


def finish(
    clean: np.ndarray,
    brain: np.ndarray,
    white_matter_signal: float,
    rng: np.random.Generator,
    grid: Grid,
    noise_fraction: float = 0.01,
    bias_sd: float = 0.06,
) -> np.ndarray:
    """Apply bias field and Rician noise, normalise to [0, 1] in the brain, zero the background.

    Args:
        clean: noise-free signal.
        brain: boolean brain mask.
        white_matter_signal: WM signal level; the noise sigma is ``noise_fraction`` of it.
        rng: random generator.
        grid: grid of the image.
        noise_fraction: noise sigma relative to the WM signal.
        bias_sd: log-SD of the bias field's control points.
    """
    image = add_rician_noise(clean * bias_field(rng, grid, bias_sd), noise_fraction * white_matter_signal, rng)
    image = robust_normalise(image, mask=brain)
    image[~brain] = 0.0
    return image
