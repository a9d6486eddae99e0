"""Masks for inpainting training: the cohort's own lesions and random ellipsoids, on the latent grid.

A mask is drawn on the model grid (where the cohort's lesion masks live), dilated, and
max-pooled onto the latent grid exactly as the engine does at inference
(``braingen3d.inpaint.latents.latent_mask``). Each mask comes with the caption it teaches: a
lesion phrase for a lesion mask, "no lesions" for a random region that holds none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from scipy import ndimage as ndi

from braingen3d.inpaint.latents import latent_mask

from training.captions.phrases import lesion_phrase

# A voxel belongs to a lesion when its partial-volume lesion fraction exceeds this.
LESION_THRESHOLD = 0.5
# Brain voxels kept as candidate centres of random masks (every n-th, to keep memory small).
CENTRE_STRIDE = 7


@dataclass
class SubjectMasks:
    """What mask drawing needs from one subject: its lesion components and candidate centres.

    Attributes:
        components: voxel indices (K, 3) of each connected lesion.
        lesion: the binary lesion mask (model grid), or None without lesions.
        centres: brain voxel indices (N, 3) where random masks may be centred.
    """

    components: list[np.ndarray]
    lesion: np.ndarray | None
    centres: np.ndarray


@dataclass
class DrawnMask:
    """A training mask on the latent grid and its caption."""

    latent: torch.Tensor
    caption: str
    from_lesion: bool


def equivalent_diameter_mm(voxels: int, voxel_volume_mm3: float) -> float:
    """Diameter of the sphere with the volume of ``voxels`` voxels."""
    return float((6.0 * voxels * voxel_volume_mm3 / np.pi) ** (1.0 / 3.0))


def load_subject_masks(lesion_path: Path | None, tissue_path: Path | None, shape: tuple[int, int, int]) -> SubjectMasks:
    """Lesion components from ``lesion_path`` (may be None) and brain centres from the tissue map (or the whole grid)."""
    lesion = None
    components: list[np.ndarray] = []
    if lesion_path is not None:
        fraction = np.asarray(nib.load(str(lesion_path)).dataobj, dtype=np.float32)
        binary = fraction > LESION_THRESHOLD
        if binary.any():
            lesion = binary
            labels, count = ndi.label(binary)
            components = [np.argwhere(labels == k) for k in range(1, count + 1)]
    if tissue_path is not None:
        brain = np.asarray(nib.load(str(tissue_path)).dataobj) > 0
    else:
        brain = np.ones(shape, dtype=bool)
    centres = np.argwhere(brain)[::CENTRE_STRIDE]
    return SubjectMasks(components=components, lesion=lesion, centres=centres)


class MaskDrawer:
    """Draws inpainting training masks.

    Args:
        shape: the model grid's shape.
        spacing_mm: its voxel size.
        factor: model voxels per latent voxel along each axis.
        lesion_probability: chance of using the subject's lesions (when it has any).
        max_dilation_mm: lesion masks grow by a random 0..this margin, as a user's painting would.
        random_radius_mm: (min, max) semi-axes of random ellipsoids.
    """

    def __init__(self, shape: tuple[int, int, int], spacing_mm: float, factor: int, lesion_probability: float = 0.7,
                 max_dilation_mm: float = 4.0, random_radius_mm: tuple[float, float] = (4.0, 16.0)) -> None:
        self.shape = tuple(shape)
        self.spacing = float(spacing_mm)
        self.factor = int(factor)
        self.lesion_probability = lesion_probability
        self.max_dilation_voxels = int(round(max_dilation_mm / spacing_mm))
        self.random_radius_mm = random_radius_mm
        self._grid = np.indices(self.shape, dtype=np.float32)

    def draw(self, subject: SubjectMasks, modality: str, rng: np.random.Generator) -> DrawnMask:
        if subject.components and rng.random() < self.lesion_probability:
            return self._lesion_mask(subject, modality, rng)
        return self._random_mask(subject, modality, rng)

    def _to_latent(self, model_mask: np.ndarray) -> torch.Tensor:
        return latent_mask(model_mask, self.factor, torch.device("cpu"))[0]

    def _lesion_mask(self, subject: SubjectMasks, modality: str, rng: np.random.Generator) -> DrawnMask:
        mask = np.zeros(self.shape, dtype=bool)
        if len(subject.components) > 1 and rng.random() < 0.5:
            chosen = subject.components
        else:
            chosen = [subject.components[int(rng.integers(len(subject.components)))]]
        for component in chosen:
            mask[tuple(component.T)] = True
        diameter = equivalent_diameter_mm(max(len(c) for c in chosen), self.spacing ** 3)
        dilation = int(rng.integers(0, self.max_dilation_voxels + 1))
        if dilation:
            mask = ndi.binary_dilation(mask, iterations=dilation)
        return DrawnMask(self._to_latent(mask), lesion_phrase(len(chosen), diameter, modality, rng), True)

    def _random_mask(self, subject: SubjectMasks, modality: str, rng: np.random.Generator) -> DrawnMask:
        centre = subject.centres[int(rng.integers(len(subject.centres)))].astype(np.float32)
        radii = rng.uniform(*self.random_radius_mm, size=3) / self.spacing
        distance = sum(((self._grid[axis] - centre[axis]) / radii[axis]) ** 2 for axis in range(3))
        mask = distance <= 1.0
        if subject.lesion is not None and (mask & subject.lesion).any():
            inside, count = ndi.label(mask & subject.lesion)
            sizes = np.bincount(inside.ravel())[1:]
            caption = lesion_phrase(count, equivalent_diameter_mm(int(sizes.max()), self.spacing ** 3), modality, rng)
        else:
            caption = lesion_phrase(0, 0.0, modality, rng)
        return DrawnMask(self._to_latent(mask), caption, False)
