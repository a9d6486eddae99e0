"""Resampling arrays between voxel grids given their voxel-to-RAS affines."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from braingen3d.core.geometry import Grid


def antialias_sigma(source_affine: np.ndarray, target_affine: np.ndarray) -> np.ndarray:
    """Gaussian sigma (in source voxels, per source axis) that removes detail finer than the target spacing.

    Args:
        source_affine: 4x4 voxel-to-RAS affine of the source array.
        target_affine: 4x4 voxel-to-RAS affine of the target grid.

    Returns:
        Sigma per source axis; zero along axes that are not downsampled.
    """
    # Target spacing seen along each source axis: the length, in source voxels, of one target voxel step.
    to_source = np.linalg.inv(source_affine[:3, :3]) @ target_affine[:3, :3]
    factor = np.abs(to_source).max(axis=1)
    return np.maximum(factor - 1.0, 0.0) / 2.0


def resample_to_grid(
    data: np.ndarray,
    source_affine: np.ndarray,
    grid: Grid,
    order: int = 1,
    antialias: bool = True,
    cval: float = 0.0,
) -> np.ndarray:
    """Resample ``data`` (on ``source_affine``) onto ``grid``.

    Args:
        data: 3D array in (i, j, k) order.
        source_affine: 4x4 voxel-to-RAS affine of ``data``.
        grid: the target grid.
        order: spline order (0 nearest for labels, 1 linear for intensities and probabilities).
        antialias: Gaussian pre-filter when downsampling (ignored for ``order=0``).
        cval: value for points outside the source.

    Returns:
        A float32 array of ``grid.shape`` (or the input dtype for ``order=0``).
    """
    source = np.asarray(data)
    if order > 0:
        source = source.astype(np.float32, copy=False)
        if antialias:
            sigma = antialias_sigma(source_affine, grid.affine)
            if np.any(sigma > 0):
                source = ndi.gaussian_filter(source, sigma, mode="constant", cval=cval)
    # Maps target voxel indices to source voxel indices.
    target_to_source = np.linalg.inv(source_affine) @ grid.affine
    return ndi.affine_transform(
        source,
        target_to_source[:3, :3],
        offset=target_to_source[:3, 3],
        output_shape=tuple(grid.shape),
        order=order,
        mode="constant",
        cval=cval,
        prefilter=False,
    )
