"""World-defined brain phantoms for inpainting tests.

The phantom is defined in RAS millimetres, so the same anatomy and the same lesion position can be
sampled on axis-aligned, LPS-flipped and oblique grids with non-isotropic voxels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

BRAIN_CENTRE = np.array([3.0, -15.0, 13.0])  # near, but not at, the bundle grid's centre (0, -17, 17)
BRAIN_SEMI_AXES = np.array([60.0, 75.0, 55.0])
LESION_OFFSET = np.array([30.0, 20.0, 15.0])  # off-centre, so a mirrored grid would put it elsewhere
SHAPE = (32, 44, 26)
SPACING = np.array([5.0, 4.0, 6.0])


def _rotation(z_deg: float, x_deg: float) -> np.ndarray:
    z, x = np.radians(z_deg), np.radians(x_deg)
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    return rz @ rx


ORIENTATIONS = {
    "ras": np.eye(3),
    "lps": np.diag([-1.0, -1.0, 1.0]),
    "oblique": _rotation(20.0, -15.0) @ np.diag([-1.0, 1.0, 1.0]),  # rotated, with one axis flipped
}


def grid_affine(orientation: str, shape=SHAPE, spacing=SPACING, centre=BRAIN_CENTRE) -> np.ndarray:
    """A voxel-to-RAS matrix whose grid is centred on ``centre``."""
    affine = np.eye(4)
    affine[:3, :3] = ORIENTATIONS[orientation] @ np.diag(spacing)
    affine[:3, 3] = centre - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2)
    return affine


def world_coordinates(shape, affine) -> np.ndarray:
    ijk = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1).reshape(-1, 3)
    return (ijk @ affine[:3, :3].T + affine[:3, 3]).reshape(*shape, 3)


def phantom_intensity(xyz: np.ndarray) -> np.ndarray:
    """Background 0, a grey-matter shell, white matter and ventricles, with a smooth modulation."""
    r = np.sqrt((((xyz - BRAIN_CENTRE) / BRAIN_SEMI_AXES) ** 2).sum(-1))
    ventricle = np.sqrt((((xyz - BRAIN_CENTRE - [0, 5, 5]) / [12.0, 25.0, 10.0]) ** 2).sum(-1)) < 1
    image = np.where(r < 1, 250.0, 0.0)
    image = np.where(r < 0.75, 400.0, image)
    image = np.where(ventricle, 80.0, image)
    return image + np.where(r < 1, 20.0 * np.cos(xyz[..., 0] / 15.0) * np.sin(xyz[..., 1] / 20.0), 0.0)


@dataclass
class Case:
    """A phantom volume and a spherical lesion mask on one grid."""

    volume: np.ndarray
    affine: np.ndarray
    mask: np.ndarray
    lesion_centre: np.ndarray
    radius_mm: float

    @property
    def world(self) -> np.ndarray:
        return world_coordinates(self.volume.shape, self.affine)


def make_case(orientation: str = "ras", dtype=np.int16, radius_mm: float = 12.0, shape=SHAPE, spacing=SPACING,
              lesion_offset=LESION_OFFSET) -> Case:
    affine = grid_affine(orientation, shape, spacing)
    xyz = world_coordinates(shape, affine)
    centre = BRAIN_CENTRE + np.asarray(lesion_offset, dtype=float)
    mask = (np.linalg.norm(xyz - centre, axis=-1) <= radius_mm).astype(np.uint8)
    return Case(phantom_intensity(xyz).astype(dtype), affine, mask, centre, radius_mm)


def save_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    image = nib.Nifti1Image(array, affine)
    image.set_sform(affine, code=1)
    image.set_qform(affine, code=1)
    nib.save(image, str(path))
    return path
