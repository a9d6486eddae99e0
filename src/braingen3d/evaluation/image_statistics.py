"""A dozen generic image statistics per volume: what the simple machine reader sees."""

from __future__ import annotations

import numpy as np
from scipy import stats

from .background_detail import background_level, gradient_magnitude, high_frequency_energy
from .masks import detail_mask
from .volumes import Sample

STATISTIC_NAMES = (
    "brain_mean", "brain_sd", "brain_p05", "brain_p25", "brain_p50", "brain_p75", "brain_p95",
    "brain_skewness", "background_mean", "background_sd", "high_frequency_energy",
    "gradient_p50", "gradient_p90", "brain_fraction",
)


def image_statistics(sample: Sample, head: np.ndarray) -> np.ndarray:
    """The ``STATISTIC_NAMES`` of one volume (in-brain grey levels, background, detail, brain size)."""
    brain = sample.brain
    values = sample.array[brain]
    p05, p25, p50, p75, p95 = np.percentile(values, [5, 25, 50, 75, 95])
    outside = sample.array[~head] if (~head).any() else np.zeros(1, np.float32)
    gradient = gradient_magnitude(sample.array)[detail_mask(brain)]
    return np.array([
        values.mean(), values.std(), p05, p25, p50, p75, p95,
        float(stats.skew(values)) if values.std() > 0 else 0.0,
        background_level(sample.array, head), outside.std(), high_frequency_energy(sample.array, brain),
        np.percentile(gradient, 50), np.percentile(gradient, 90), brain.mean(),
    ], dtype=np.float64)


def statistics_matrix(samples: list[Sample], head: np.ndarray) -> np.ndarray:
    """(len(samples), len(STATISTIC_NAMES)) array."""
    return np.stack([image_statistics(sample, head) for sample in samples])


def standardise_within_modality(features: np.ndarray, modalities: list[str]) -> np.ndarray:
    """Z-score each statistic within each modality (over both classes; no labels are used),
    so that a linear reader compares volumes of one contrast with each other."""
    out = np.zeros_like(features)
    modality_array = np.asarray(modalities)
    for modality in set(modalities):
        rows = modality_array == modality
        block = features[rows]
        sd = block.std(axis=0)
        out[rows] = (block - block.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return out
