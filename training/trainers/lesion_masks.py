"""Masks for inpainting training: the cohort's own lesions and random ellipsoids, on the latent grid.

A mask is drawn on the model grid (where the cohort's lesion masks live), dilated, and
max-pooled onto the latent grid exactly as the engine does at inference
(``braingen3d.pipelines.inpaint.model_space.latent_mask``). Each mask comes with the caption it teaches: a
lesion phrase for a lesion mask, "no lesions" for a region that holds none.

A lesion mask is the lesion itself (dilated) or a blob around it, as a user paints one. A sham
mask has a lesion mask's shape but sits in lesion-free white matter and teaches "no lesions":
without shams a lesion-sized blob in white matter always held a lesion in training, so the U-Net
could learn the lesion from the mask and ignore the prompt (and then "no lesions" or a negative
prompt changed little).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from scipy import ndimage as ndi

from braingen3d.pipelines.inpaint.model_space import latent_mask
from training.captions.phrases import lesion_phrase

# A voxel belongs to a lesion when its partial-volume lesion fraction exceeds this.
LESION_THRESHOLD = 0.5
# Brain voxels kept as candidate centres of random masks (every n-th, to keep memory small).
CENTRE_STRIDE = 7
# The cohort's tissue label of white matter (training.cohort.anatomy.LABELS).
WHITE_MATTER_LABEL = 3
# Semi-axes (mm) of a sham blob in a subject without lesions to copy the shape of.
SHAM_RADIUS_MM = (2.5, 7.0)
# Tries to place a sham away from the subject's lesions before falling back to a random mask.
SHAM_PLACEMENT_TRIES = 8


@dataclass
class SubjectMasks:
    """What mask drawing needs from one subject: its lesion components and candidate centres.

    Attributes:
        components: voxel indices (K, 3) of each connected lesion.
        lesion: the binary lesion mask (model grid), or None without lesions.
        centres: brain voxel indices (N, 3) where random masks may be centred.
        white_matter_centres: white-matter voxel indices (M, 3) where sham masks may be centred
            (empty without a tissue map).
    """

    components: list[np.ndarray]
    lesion: np.ndarray | None
    centres: np.ndarray
    white_matter_centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))


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
        labels = np.asarray(nib.load(str(tissue_path)).dataobj)
        brain = labels > 0
        white_matter = np.argwhere(labels == WHITE_MATTER_LABEL)[::CENTRE_STRIDE]
    else:
        brain = np.ones(shape, dtype=bool)
        white_matter = np.zeros((0, 3), dtype=np.int64)
    centres = np.argwhere(brain)[::CENTRE_STRIDE]
    return SubjectMasks(components=components, lesion=lesion, centres=centres, white_matter_centres=white_matter)


class MaskDrawer:
    """Draws inpainting training masks.

    Each draw is, in this order of chances: a sham (``sham_probability``), the subject's lesions
    (``lesion_probability`` of the rest, when it has any) or a random ellipsoid anywhere in the brain.

    Args:
        shape: the model grid's shape.
        spacing_mm: its voxel size.
        factor: model voxels per latent voxel along each axis.
        lesion_probability: chance of using the subject's lesions (when it has any).
        max_dilation_mm: lesion masks grow by a random 0..this margin, as a user's painting would.
        random_radius_mm: (min, max) semi-axes of random ellipsoids.
        blob_probability: chance that a lesion (or sham) mask is an ellipsoid around the lesion
            rather than the lesion's own dilated shape.
        sham_probability: chance of a sham: a lesion-shaped mask in lesion-free white matter,
            captioned "no lesions".
    """

    def __init__(self, shape: tuple[int, int, int], spacing_mm: float, factor: int, lesion_probability: float = 0.7,
                 max_dilation_mm: float = 4.0, random_radius_mm: tuple[float, float] = (4.0, 16.0),
                 blob_probability: float = 0.0, sham_probability: float = 0.0) -> None:
        self.shape = tuple(shape)
        self.spacing = float(spacing_mm)
        self.factor = int(factor)
        self.lesion_probability = lesion_probability
        self.max_dilation_voxels = int(round(max_dilation_mm / spacing_mm))
        self.random_radius_mm = random_radius_mm
        self.blob_probability = blob_probability
        self.sham_probability = sham_probability
        self._grid = np.indices(self.shape, dtype=np.float32)

    def draw(self, subject: SubjectMasks, modality: str, rng: np.random.Generator) -> DrawnMask:
        if self.sham_probability > 0 and len(subject.white_matter_centres) and rng.random() < self.sham_probability:
            sham = self._sham_mask(subject, modality, rng)
            if sham is not None:
                return sham
        if subject.components and rng.random() < self.lesion_probability:
            return self._lesion_mask(subject, modality, rng)
        return self._random_mask(subject, modality, rng)

    def _to_latent(self, model_mask: np.ndarray) -> torch.Tensor:
        return latent_mask(model_mask, self.factor, torch.device("cpu"))[0]

    def _ellipsoid(self, centre: np.ndarray, radii_voxels: np.ndarray) -> np.ndarray:
        distance = sum(((self._grid[axis] - centre[axis]) / radii_voxels[axis]) ** 2 for axis in range(3))
        return distance <= 1.0

    def _chosen_components(self, subject: SubjectMasks, rng: np.random.Generator) -> list[np.ndarray]:
        if len(subject.components) > 1 and rng.random() < 0.5:
            return subject.components
        return [subject.components[int(rng.integers(len(subject.components)))]]

    def _painted(self, components: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """What a user would paint over ``components``: their dilated voxels, or a blob around each."""
        mask = np.zeros(self.shape, dtype=bool)
        dilation = int(rng.integers(0, self.max_dilation_voxels + 1))
        if self.blob_probability > 0 and rng.random() < self.blob_probability:
            for component in components:
                centre = component.mean(axis=0)
                reach = np.abs(component - centre).max(axis=0) + 0.5
                # Grow the bounding-box ellipsoid until its surface passes the farthest voxel.
                reach = reach * np.sqrt((((component - centre) / reach) ** 2).sum(axis=1).max())
                mask |= self._ellipsoid(centre, reach * rng.uniform(1.0, 1.3, size=3) + dilation)
            return mask
        for component in components:
            mask[tuple(component.T)] = True
        return ndi.binary_dilation(mask, iterations=dilation) if dilation else mask

    def _lesion_mask(self, subject: SubjectMasks, modality: str, rng: np.random.Generator) -> DrawnMask:
        chosen = self._chosen_components(subject, rng)
        diameter = equivalent_diameter_mm(max(len(c) for c in chosen), self.spacing ** 3)
        mask = self._painted(chosen, rng)
        return DrawnMask(self._to_latent(mask), lesion_phrase(len(chosen), diameter, modality, rng), True)

    def _sham_mask(self, subject: SubjectMasks, modality: str, rng: np.random.Generator) -> DrawnMask | None:
        """A lesion mask's shape (or a lesion-sized blob) moved into white matter clear of lesions, or None."""
        if subject.components:
            component = subject.components[int(rng.integers(len(subject.components)))]
            shape = self._painted([component], rng)
        else:
            radii = rng.uniform(*SHAM_RADIUS_MM, size=3) / self.spacing
            shape = self._ellipsoid(np.asarray(self.shape, dtype=np.float32) / 2, radii)
        voxels = np.argwhere(shape)
        centre = np.round(voxels.mean(axis=0)).astype(int)
        for _ in range(SHAM_PLACEMENT_TRIES):
            target = subject.white_matter_centres[int(rng.integers(len(subject.white_matter_centres)))]
            moved = voxels - centre + target
            moved = moved[np.all((moved >= 0) & (moved < np.asarray(self.shape)), axis=1)]
            mask = np.zeros(self.shape, dtype=bool)
            mask[tuple(moved.T)] = True
            if len(moved) and (subject.lesion is None or not (mask & subject.lesion).any()):
                return DrawnMask(self._to_latent(mask), lesion_phrase(0, 0.0, modality, rng), False)
        return None

    def _random_mask(self, subject: SubjectMasks, modality: str, rng: np.random.Generator) -> DrawnMask:
        centre = subject.centres[int(rng.integers(len(subject.centres)))].astype(np.float32)
        radii = rng.uniform(*self.random_radius_mm, size=3) / self.spacing
        mask = self._ellipsoid(centre, radii)
        if subject.lesion is not None and (mask & subject.lesion).any():
            inside, count = ndi.label(mask & subject.lesion)
            sizes = np.bincount(inside.ravel())[1:]
            caption = lesion_phrase(count, equivalent_diameter_mm(int(sizes.max()), self.spacing ** 3), modality, rng)
        else:
            caption = lesion_phrase(0, 0.0, modality, rng)
        return DrawnMask(self._to_latent(mask), caption, False)
