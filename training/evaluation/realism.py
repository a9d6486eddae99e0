"""Realism and diversity: intensity histograms, pairwise MS-SSIM, nearest training subject."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage

from braingen3d import metrics

from .cohort_data import CohortImage

FOREGROUND_LEVEL = 0.05


def foreground(image: np.ndarray) -> np.ndarray:
    """Brain mask of a generated image: above 5% of the range, holes filled (the background is ~0)."""
    return ndimage.binary_fill_holes(image > FOREGROUND_LEVEL)


def histogram_distance_to(image: np.ndarray, references: list[CohortImage]) -> float:
    """Mean Wasserstein-1 distance between the within-brain intensities of ``image`` and each reference."""
    mask = foreground(image)
    return float(np.mean([metrics.histogram_distance(image, mask, ref.image, ref.brain) for ref in references]))


def mean_pairwise_ms_ssim(images: list[np.ndarray]) -> float:
    return float(np.mean([metrics.ms_ssim(a, b) for a, b in itertools.combinations(images, 2)]))


def _thumbnail(image: np.ndarray) -> np.ndarray:
    small = ndimage.zoom(image, 0.25, order=1).ravel()
    return (small - small.mean()) / (small.std() + 1e-8)


def nearest_training_ssim(image: np.ndarray, training: list[CohortImage], shortlist: int = 5) -> tuple[str, float]:
    """SSIM to the most similar training subject: a correlation shortlist on 4x-downsampled copies, then full SSIM."""
    thumb = _thumbnail(image)
    correlations = [float(np.dot(thumb, _thumbnail(t.image)) / thumb.size) for t in training]
    best = sorted(range(len(training)), key=lambda i: -correlations[i])[:shortlist]
    scored = [(training[i].subject_id, metrics.ssim(training[i].image, image)) for i in best]
    return max(scored, key=lambda item: item[1])
