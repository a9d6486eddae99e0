"""Reading any supported volume file into an (i, j, k) array and RAS affine."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import InvalidInputError
from .nifti import read_nifti
from .nrrd_io import read_nrrd


def read_volume(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read .nii/.nii.gz/.nrrd as a float32 (i, j, k) array and its 4x4 RAS affine."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist. Check the path.")
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return read_nifti(path)
    if name.endswith(".nrrd") or name.endswith(".nhdr"):
        array, affine, _ = read_nrrd(path)
        if array.ndim != 3:
            raise InvalidInputError(f"{path} has {array.ndim} dimensions; a 3D volume is needed.")
        return array, affine
    raise InvalidInputError(f"{path}: unsupported file type; use NIfTI (.nii, .nii.gz) or NRRD (.nrrd).")
