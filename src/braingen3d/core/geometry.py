"""Voxel grids: shape, spacing and RAS affine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """A voxel grid: ``shape`` in (i, j, k) order and a 4x4 voxel-to-RAS affine in mm."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "spacing": list(self.spacing), "affine": self.affine.tolist(), "orientation": "RAS"}


def mni_grid(shape: tuple[int, int, int], spacing: float, centre_mm: tuple[float, float, float] = (0.0, -17.0, 17.0)) -> Grid:
    """An axis-aligned RAS grid of ``shape`` voxels of ``spacing`` mm centred on ``centre_mm`` (MNI).

    The default centre is the centre of the MNI152 brain's bounding box.
    """
    affine = np.eye(4)
    affine[:3, :3] *= spacing
    half_extent = (np.asarray(shape, dtype=float) - 1) / 2 * spacing
    affine[:3, 3] = np.asarray(centre_mm) - half_extent
    return Grid(tuple(int(s) for s in shape), affine)


DEFAULT_GRID = mni_grid((80, 96, 80), 2.0)


# Two grids are "the same" when every voxel centre agrees to within this fraction of a voxel.
GEOMETRY_TOLERANCE_VOXELS = 0.01


def geometry_difference(shape_a: tuple[int, ...], affine_a: np.ndarray, shape_b: tuple[int, ...],
                        affine_b: np.ndarray) -> str | None:
    """Why two grids differ (shape, or the largest voxel-centre offset), or None if they are the same."""
    if tuple(shape_a) != tuple(shape_b):
        return f"the mask has shape {tuple(shape_b)} but the volume has shape {tuple(shape_a)}"
    corners = np.array([[i, j, k, 1.0] for i in (0, shape_a[0] - 1) for j in (0, shape_a[1] - 1) for k in (0, shape_a[2] - 1)])
    offset_mm = float(np.max(np.linalg.norm((corners @ (affine_a - affine_b).T)[:, :3], axis=1)))
    min_spacing = float(np.min(np.linalg.norm(affine_a[:3, :3], axis=0)))
    if offset_mm > GEOMETRY_TOLERANCE_VOXELS * min_spacing:
        return f"the mask's voxel-to-world matrix differs from the volume's (voxel centres move by up to {offset_mm:.3g} mm)"
    return None
