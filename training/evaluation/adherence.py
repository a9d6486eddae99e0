"""Prompt adherence: tissue contrast per modality, and ventricle size by prompt."""

from __future__ import annotations

import numpy as np

from braingen3d.core.geometry import Grid
from braingen3d.prompts.vocabulary import MODALITY_WORDS, SEX_NOUNS, ventricle_phrase
from training.captions.measure import tissue_means, ventricle_volume_ml

# Expected order of mean intensities, brightest first.
CONTRAST_ORDER = {
    "T1": ("wm", "gm", "ventricles"),
    "T2": ("ventricles", "gm", "wm"),
    "FLAIR": ("gm", "wm", "ventricles"),
    "PD": ("ventricles", "gm", "wm"),
}


def contrast_follows(image: np.ndarray, modality: str, grid: Grid) -> tuple[bool, dict[str, float]]:
    """Whether the template-core tissue means of ``image`` follow the modality's expected order.

    The core masks come from the MNI templates, not from the image, so they do not presume the contrast.
    """
    means = tissue_means(image, grid)
    order = CONTRAST_ORDER[modality]
    return all(means[a] > means[b] for a, b in zip(order, order[1:])), means


def ventricles_ml(image: np.ndarray, modality: str, grid: Grid) -> float:
    return ventricle_volume_ml(image, modality, grid)


def prompt(modality: str, age: int, sex: str, ventricles: str | None = None) -> str:
    """The evaluation prompt, in the captions' words. It keeps "a" before every age (also "a 84-year-old"), so the
    quality report asks exactly what it asked when the bundle cards' numbers were measured."""
    text = f"{MODALITY_WORDS[modality]} MRI of a {age}-year-old {SEX_NOUNS['M' if sex == 'M' else 'F']}"
    return f"{text} with {ventricle_phrase(ventricles)}" if ventricles else text
