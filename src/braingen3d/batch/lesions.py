"""Lesion masks for a batch case: random ellipsoids of the planned sizes, inside white matter.

Each lesion is an ellipsoid with the planned equivalent diameter (the diameter of a sphere of the
same volume), random axis ratios (0.7-1.3) and a random orientation, centred on a voxel of the
white-matter core. Voxel centres inside the ellipsoid and inside the brain belong to the lesion,
and its centre voxel always does, so a 5 mm lesion on a 10 mm grid is one voxel rather than none.
Where the white-matter estimate is empty (tiny grids, random test bundles), centres fall back to the
brain core and then the brain; where even a lesion's centre voxel would push the total above
``MAX_BRAIN_FRACTION`` of the brain, that lesion is left out. Both are logged and recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .white_matter import brain_and_white_matter, eroded

logger = logging.getLogger(__name__)

#: Lesions cover at most this fraction of the brain (inpainting refuses masks over half of it).
MAX_BRAIN_FRACTION = 0.25
ASPECT_RANGE = (0.7, 1.3)


@dataclass(frozen=True)
class PlacedLesion:
    """One lesion as placed.

    Args:
        diameter_mm: planned equivalent diameter.
        centre_ras_mm: centre of the ellipsoid (RAS, mm).
        semi_axes_mm: the ellipsoid's semi-axes.
        voxels: voxels it added to the mask (overlaps with earlier lesions are not counted twice).
        region: where its centre was drawn from: ``white_matter``, ``brain_core`` or ``brain``.
    """

    diameter_mm: float
    centre_ras_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    voxels: int
    region: str

    def to_dict(self) -> dict:
        return {"diameter_mm": self.diameter_mm, "centre_ras_mm": [round(v, 2) for v in self.centre_ras_mm],
                "semi_axes_mm": [round(v, 2) for v in self.semi_axes_mm], "voxels": self.voxels, "region": self.region}


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation matrix (QR of a Gaussian matrix with the sign fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def ellipsoid_mask(shape: tuple[int, ...], affine: np.ndarray, centre_voxel: tuple[int, int, int],
                   semi_axes_mm: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Voxels whose centres lie inside the ellipsoid (any voxel spacing and orientation).

    Args:
        shape: grid shape.
        affine: voxel-to-RAS matrix of the grid.
        centre_voxel: the ellipsoid's centre voxel (always included).
        semi_axes_mm: semi-axis lengths in mm, along the columns of ``rotation``.
        rotation: 3x3 rotation whose columns are the ellipsoid's axes in RAS.
    """
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    reach = np.ceil(float(np.max(semi_axes_mm)) / spacing).astype(int) + 1
    low = np.maximum(np.asarray(centre_voxel) - reach, 0)
    high = np.minimum(np.asarray(centre_voxel) + reach + 1, shape)
    box = np.stack(np.meshgrid(*(np.arange(a, b) for a, b in zip(low, high)), indexing="ij"), axis=-1).reshape(-1, 3)
    offsets = (box - np.asarray(centre_voxel)) @ affine[:3, :3].T  # mm from the centre
    local = offsets @ rotation  # coordinates along the ellipsoid's axes
    inside = np.sum((local / semi_axes_mm) ** 2, axis=1) <= 1.0
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(box[inside].T)] = True
    mask[tuple(centre_voxel)] = True
    return mask


def _centre_candidates(white_matter: np.ndarray, brain: np.ndarray, taken: np.ndarray) -> tuple[np.ndarray, str]:
    """Voxels a new lesion may be centred on, preferring deep white matter and avoiding earlier lesions."""
    free = ~ndimage.binary_dilation(taken) if taken.any() else np.ones_like(taken)
    for region, mask in (("white_matter", eroded(white_matter) if white_matter.any() else white_matter),
                         ("white_matter", white_matter), ("brain_core", eroded(brain)), ("brain", brain)):
        candidates = mask & free
        if candidates.any():
            return candidates, region
    return brain & ~taken, "brain"


def place_lesions(image: np.ndarray, affine: np.ndarray, modality: str, diameters_mm: tuple[float, ...],
                  rng: np.random.Generator) -> tuple[np.ndarray, list[PlacedLesion]]:
    """A uint8 lesion mask (1 = lesion) with one ellipsoid per planned diameter, and what was placed.

    Args:
        image: the generated volume, (i, j, k).
        affine: its voxel-to-RAS matrix.
        modality: its contrast (for the white-matter estimate).
        diameters_mm: one equivalent diameter per lesion.
        rng: the case's placement generator.
    """
    affine = np.asarray(affine, dtype=float)
    brain, white_matter = brain_and_white_matter(image, modality)
    mask = np.zeros(brain.shape, dtype=bool)
    budget = int(MAX_BRAIN_FRACTION * np.count_nonzero(brain))
    placed: list[PlacedLesion] = []
    for diameter in diameters_mm:
        candidates, region = _centre_candidates(white_matter, brain, mask)
        if not candidates.any():
            logger.warning("No free brain voxel is left for a %.1f mm lesion; it is left out.", diameter)
            continue
        indices = np.argwhere(candidates)
        centre = tuple(int(v) for v in indices[rng.integers(len(indices))])
        aspect = rng.uniform(*ASPECT_RANGE, size=3)
        semi_axes = diameter / 2.0 * aspect / np.cbrt(np.prod(aspect))  # same volume as the sphere
        lesion = ellipsoid_mask(brain.shape, affine, centre, semi_axes, random_rotation(rng)) & brain
        lesion[centre] = True
        added = int(np.count_nonzero(lesion & ~mask))
        if np.count_nonzero(mask) + added > budget:
            logger.warning("A %.1f mm lesion would cover more than %d%% of this brain (%d voxels); it is left out.",
                           diameter, round(100 * MAX_BRAIN_FRACTION), int(np.count_nonzero(brain)))
            continue
        if region != "white_matter":
            logger.info("No white-matter voxel was free for a %.1f mm lesion; centred it in the %s instead.", diameter, region)
        mask |= lesion
        centre_ras = (affine @ np.array([*centre, 1.0]))[:3]
        placed.append(PlacedLesion(float(diameter), tuple(float(v) for v in centre_ras),
                                   tuple(float(v) for v in semi_axes), added, region))
    return mask.astype(np.uint8), placed
