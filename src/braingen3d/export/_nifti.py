"""NIfTI-1 encoding for the exporters: the image is built in memory and written atomically.

nibabel picks the format from the file name, so it cannot write to a temporary name that does not
end in ``.nii.gz``; and a temporary ``.nii.gz`` would be picked up by nnU-Net if a run died. So the
file is serialised to bytes here and handed to :mod:`._atomic`.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np

from braingen3d.errors import InvalidInputError
from braingen3d.export._atomic import atomic_write_bytes

# gzip level 1 is nibabel's own default: about as small as level 9 for label maps, several times faster.
_GZIP_LEVEL = 1


def nifti_bytes(
    array: np.ndarray, affine: np.ndarray, descrip: str, intent: str | None = None, gzipped: bool = True
) -> bytes:
    """Encode ``array`` (i, j, k) with its RAS ``affine`` as a NIfTI-1 file (qform and sform, code 1 = scanner).

    Args:
        array: the voxel data; its dtype is kept.
        affine: 4x4 voxel-to-RAS matrix.
        descrip: header ``descrip`` text (at most 80 bytes).
        intent: NIfTI intent name, e.g. ``"label"`` for label maps.
        gzipped: gzip the result (for ``.nii.gz``).
    """
    image = nib.Nifti1Image(array, affine)
    header = image.header
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=1)
    header["descrip"] = descrip.encode("ascii", "replace")[:80]
    header.set_xyzt_units("mm", "sec")
    if intent == "label":
        header.set_intent("label")
    data = image.to_bytes()
    return gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0) if gzipped else data


def write_nifti(
    path: str | Path,
    array: np.ndarray,
    affine: np.ndarray,
    descrip: str,
    intent: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a NIfTI file atomically; gzip when the name ends in ``.nii.gz``. Returns the path."""
    path = Path(path)
    lower = path.name.lower()
    if not (lower.endswith(".nii.gz") or lower.endswith(".nii")):
        raise InvalidInputError(f"NIfTI output {path} must end in .nii.gz or .nii.")
    atomic_write_bytes(
        path, nifti_bytes(array, affine, descrip, intent, gzipped=lower.endswith(".gz")), overwrite=overwrite
    )
    return path
