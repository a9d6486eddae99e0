"""The model's grid for a user volume, and resampling between the two grids.

The model works on the bundle's grid: its shape, spacing and axes (RAS). A volume already on that
grid is used as it is. Any other volume gets a grid of the same shape, spacing and axes, translated
so it is centred on the volume's foreground (the head or brain) and contains the whole edited region.
Scanner RAS axes follow the patient, not the slice prescription, so an oblique acquisition still
shows the model an upright brain; only the translation is adapted.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..geometry import Grid
from .errors import MaskError
from .foreground import bounding_box_world


def voxels_to_world(indices: tuple[np.ndarray, ...] | np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(n, 3) RAS positions (mm) of voxel indices given as an ``np.nonzero`` tuple or an (n, 3) array."""
    points = np.stack(indices, axis=1) if isinstance(indices, tuple) else np.asarray(indices)
    return points.astype(float) @ affine[:3, :3].T + affine[:3, 3]


def world_to_voxels(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(n, 3) continuous voxel indices of RAS ``points`` (mm) in the grid of ``affine``."""
    inverse = np.linalg.inv(affine)
    return np.asarray(points, dtype=float) @ inverse[:3, :3].T + inverse[:3, 3]


def same_grid(shape: tuple[int, ...], affine: np.ndarray, grid: Grid, tolerance_mm: float = 1e-3) -> bool:
    return tuple(shape) == tuple(grid.shape) and np.allclose(affine, grid.affine, atol=tolerance_mm)


def choose_model_grid(bundle_grid: Grid, volume_shape: tuple[int, int, int], volume_affine: np.ndarray,
                      foreground: np.ndarray, required_world: np.ndarray, edge_mm: float = 0.0) -> Grid:
    """The grid the model sees for this volume.

    Args:
        bundle_grid: the bundle's grid (shape, spacing, axes).
        volume_shape: shape of the user's volume.
        volume_affine: its voxel-to-RAS matrix.
        foreground: its foreground mask; the grid is centred on the foreground's bounding box.
        required_world: (n, 3) RAS points (the edited region) that must lie inside the grid.
        edge_mm: keep required points at least this far from the grid's edge when possible.
    """
    if same_grid(volume_shape, volume_affine, bundle_grid):
        return bundle_grid
    spacing = np.asarray(bundle_grid.spacing)
    axes = bundle_grid.affine[:3, :3] / spacing  # unit direction of each grid axis (columns)
    span = (np.asarray(bundle_grid.shape) - 1) * spacing  # first to last voxel centre, per axis

    low, high = bounding_box_world(foreground, volume_affine)
    centre = axes.T @ ((low + high) / 2)  # in grid-axis coordinates
    required = np.asarray(required_world, dtype=float) @ axes  # (n, 3) in grid-axis coordinates
    need_low, need_high = required.min(axis=0), required.max(axis=0)
    if np.any(need_high - need_low > span):
        raise MaskError(
            f"The edited region spans {np.round(need_high - need_low, 1).tolist()} mm, more than the model's field of view "
            f"{np.round(span, 1).tolist()} mm. Draw a smaller lesion region."
        )
    # Shift the centre just enough that the required region (with an edge margin when it fits) is inside.
    edge = np.minimum(edge_mm, (span - (need_high - need_low)) / 2)
    centre = np.clip(centre, need_high + edge - span / 2, need_low - edge + span / 2)
    affine = np.eye(4)
    affine[:3, :3] = axes * spacing
    affine[:3, 3] = axes @ (centre - span / 2)
    return Grid(tuple(bundle_grid.shape), affine)


def resample_to_grid(array: np.ndarray, affine: np.ndarray, grid: Grid, order: int = 1, cval: float = 0.0) -> np.ndarray:
    """Resample ``array`` (grid of ``affine``) into ``grid``: trilinear for ``order=1``; ``cval`` outside."""
    if same_grid(array.shape, affine, grid):
        return np.asarray(array, dtype=np.float32).copy()
    index_map = np.linalg.inv(affine) @ grid.affine  # model voxel index -> volume voxel index
    return ndimage.affine_transform(np.asarray(array, dtype=np.float32), index_map[:3, :3], offset=index_map[:3, 3],
                                    output_shape=tuple(grid.shape), order=order, mode="constant", cval=cval)


def mask_to_grid(mask: np.ndarray, affine: np.ndarray, grid: Grid) -> np.ndarray:
    """A boolean mask in ``grid`` that covers every voxel of ``mask``.

    Nearest-neighbour pull marks model voxels whose centre falls in a mask voxel; the push marks the
    model voxel nearest to each mask voxel, so lesions thinner than a model voxel are not lost.
    """
    if same_grid(mask.shape, affine, grid):
        return mask.astype(bool).copy()
    pulled = resample_to_grid(mask.astype(np.float32), affine, grid, order=0) > 0.5
    targets = np.rint(world_to_voxels(voxels_to_world(np.nonzero(mask), affine), grid.affine)).astype(int)
    inside = np.all((targets >= 0) & (targets < np.asarray(grid.shape)), axis=1)
    pushed = targets[inside]
    pulled[pushed[:, 0], pushed[:, 1], pushed[:, 2]] = True
    return pulled


def sample_at_voxels(image: np.ndarray, grid: Grid, indices: tuple[np.ndarray, ...], affine: np.ndarray) -> np.ndarray:
    """Trilinear samples of a model-grid ``image`` at the volume voxels ``indices`` (grid of ``affine``)."""
    coords = world_to_voxels(voxels_to_world(indices, affine), grid.affine).T
    return ndimage.map_coordinates(np.asarray(image, dtype=np.float32), coords, order=1, mode="nearest")
