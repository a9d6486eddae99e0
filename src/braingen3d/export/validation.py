"""Checks on the arrays handed to the exporters, with errors that say what to fix."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..core.errors import InvalidInputError


def check_affine(affine: np.ndarray) -> np.ndarray:
    """Return ``affine`` as a float64 4x4 voxel-to-RAS matrix, or raise naming the problem."""
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise InvalidInputError(f"affine must be a 4x4 voxel-to-RAS matrix, got shape {affine.shape}.")
    if not np.all(np.isfinite(affine)):
        raise InvalidInputError("affine contains NaN or infinite values.")
    if not np.allclose(affine[3], [0.0, 0.0, 0.0, 1.0]):
        raise InvalidInputError(f"affine's last row must be [0, 0, 0, 1], got {affine[3].tolist()}.")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InvalidInputError("affine is singular: its 3x3 part has zero determinant (a zero voxel spacing?).")
    return affine


def check_volume(volume: np.ndarray) -> np.ndarray:
    """Return ``volume`` as a 3D float32 array in (i, j, k) order, or raise naming the problem."""
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise InvalidInputError(f"volume must be 3D in (i, j, k) order, got shape {volume.shape}.")
    if min(volume.shape) < 1:
        raise InvalidInputError(f"volume must not be empty, got shape {volume.shape}.")
    if not np.issubdtype(volume.dtype, np.number) or np.iscomplexobj(volume):
        raise InvalidInputError(f"volume must hold real numbers, got dtype {volume.dtype}.")
    volume = volume.astype(np.float32, copy=False)
    if not np.all(np.isfinite(volume)):
        raise InvalidInputError("volume contains NaN or infinite values; replace them before exporting.")
    return volume


def check_label(label: np.ndarray, shape: tuple[int, ...], allowed_values: Iterable[int] | None = None) -> np.ndarray:
    """Return ``label`` as uint8 after checking it against the image grid and the declared labels.

    Args:
        label: the mask in (i, j, k) order: 0 = background, 1..N = segments.
        shape: the shape of the image it belongs to.
        allowed_values: the non-zero values that have a meaning; others raise. ``None`` accepts 1..255.

    Raises:
        InvalidInputError: shape differs from the image, values are not whole numbers in 0..255, or a
            value has no segment description.
    """
    label = np.asarray(label)
    if label.shape != tuple(shape):
        raise InvalidInputError(
            f"label shape {label.shape} differs from the volume shape {tuple(shape)}; "
            "the mask must be on the same voxel grid (same (i, j, k) order) as the image."
        )
    if label.dtype == np.bool_:
        label = label.astype(np.uint8)
    if not np.issubdtype(label.dtype, np.number) or np.iscomplexobj(label):
        raise InvalidInputError(f"label must hold whole numbers 0..255, got dtype {label.dtype}.")
    if not np.issubdtype(label.dtype, np.integer):
        if not np.all(np.isfinite(label)) or not np.array_equal(label, np.round(label)):
            raise InvalidInputError(
                "label holds non-integer values; a label mask must contain whole numbers "
                "(0 = background, 1..N = segments). Threshold or round it first."
            )
    if label.size and (label.min() < 0 or label.max() > 255):
        raise InvalidInputError(f"label values must be in 0..255, got range [{label.min()}, {label.max()}].")
    label = label.astype(np.uint8)
    if allowed_values is not None:
        present = set(np.unique(label).tolist()) - {0}
        unknown = sorted(present - set(int(v) for v in allowed_values))
        if unknown:
            raise InvalidInputError(
                f"label contains values {unknown} that have no segment description; "
                f"described values are {sorted(set(int(v) for v in allowed_values))}. "
                "Add a SegmentSpec for each value or remove those voxels."
            )
    return label
