"""RAS (nibabel, Slicer) and LPS (DICOM, ITK, NRRD as Slicer writes it) conventions.

Both are right-handed patient coordinate systems that differ by the sign of the first two axes, so a
point or an affine converts by multiplying with ``diag(-1, -1, 1)``.
"""

from __future__ import annotations

import nibabel.orientations as nio
import numpy as np

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def ras_to_lps_affine(affine: np.ndarray) -> np.ndarray:
    """Voxel-to-LPS affine from a voxel-to-RAS affine (the conversion is its own inverse)."""
    return RAS_TO_LPS @ np.asarray(affine, dtype=np.float64)


lps_to_ras_affine = ras_to_lps_affine


def reorient_to_lps(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permute and flip (i, j, k) so the axes point as close as possible to +L, +P, +S.

    Only axis order and direction change; every voxel keeps its value and its position in space.
    This is the layout of an axial DICOM series in radiological convention: columns run toward the
    patient's left, rows toward posterior, slices toward superior.

    Args:
        array: 3D array in (i, j, k) order.
        affine: its 4x4 voxel-to-RAS affine.

    Returns:
        the reoriented array (a view where possible) and its voxel-to-RAS affine.
    """
    current = nio.io_orientation(affine)
    target = nio.axcodes2ornt(("L", "P", "S"))
    transform = nio.ornt_transform(current, target)
    reoriented = nio.apply_orientation(array, transform)
    new_affine = np.asarray(affine, dtype=np.float64) @ nio.inv_ornt_aff(transform, array.shape)
    return reoriented, new_affine
