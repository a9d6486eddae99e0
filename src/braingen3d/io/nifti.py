"""NIfTI writing and reading with provenance in ``descrip`` and a JSON header extension.

nibabel picks the format from the file name, and temporary names end in ``.partial`` (so an
interrupted run never leaves a file that looks like a finished ``.nii.gz``), so images are
serialised to bytes here and written with :func:`~braingen3d.io.atomic.atomic_write_bytes`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from ..core.errors import InvalidInputError
from ..core.provenance import short_description
from .atomic import atomic_write_bytes
from .finite import check_finite_voxels

NIFTI_XFORM_SCANNER = 1
NIFTI_XFORM_MNI_152 = 4
# Level 1 is nibabel's own default: about as small as level 9 for MRI and label maps, several times faster.
GZIP_LEVEL = 1


def make_nifti(array: np.ndarray, affine: np.ndarray, provenance: dict[str, Any] | None = None,
               xform_code: int = NIFTI_XFORM_MNI_152, descrip: str | None = None,
               intent: str | None = None, qform_code: int | None = None) -> nib.Nifti1Image:
    """A NIfTI-1 image with qform and sform set to ``affine`` and provenance in the header.

    Args:
        array: voxel data in (i, j, k) order; its dtype is kept.
        affine: 4x4 voxel-to-RAS matrix in mm.
        provenance: stored whole in a JSON header extension, summarised in ``descrip``.
        xform_code: the sform code (and the qform code unless ``qform_code`` is given): 4 (MNI152) for generated
            volumes on the bundle grid, 1 (scanner) otherwise, or a source file's own code.
        descrip: header ``descrip`` text; by default a summary of ``provenance``.
        intent: NIfTI intent name, e.g. ``"label"`` for label maps.
        qform_code: the qform code when it differs from the sform's (a source file's own, possibly 0).
    """
    image = nib.Nifti1Image(np.asarray(array), np.asarray(affine, dtype=float))
    image.set_qform(affine, code=xform_code if qform_code is None else qform_code)
    image.set_sform(affine, code=xform_code)
    image.header.set_xyzt_units("mm", "sec")
    if intent:
        image.header.set_intent(intent)
    text = descrip if descrip is not None else (short_description(provenance) if provenance else None)
    if text:
        image.header["descrip"] = text.encode("ascii", "replace")[:80]
    if provenance:
        payload = json.dumps(provenance, sort_keys=True, default=str).encode("utf-8")
        image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", payload))
    return image


def nifti_bytes(image: nib.Nifti1Image, gzipped: bool) -> bytes:
    data = image.to_bytes()
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0) if gzipped else data


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray, provenance: dict[str, Any] | None = None,
                overwrite: bool = False, xform_code: int = NIFTI_XFORM_MNI_152, descrip: str | None = None,
                intent: str | None = None, qform_code: int | None = None) -> Path:
    """Write ``array`` (i, j, k) with its RAS ``affine`` to ``path`` (.nii or .nii.gz) atomically."""
    path = Path(path)
    lower = path.name.lower()
    if not lower.endswith((".nii", ".nii.gz")):
        raise InvalidInputError(f"NIfTI output {path} must end in .nii.gz or .nii.")
    check_finite_voxels(array, path)
    image = make_nifti(array, affine, provenance, xform_code, descrip, intent, qform_code)
    atomic_write_bytes(path, nifti_bytes(image, lower.endswith(".gz")), overwrite=overwrite)
    return path


def read_nifti(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI as a float32 (i, j, k) array and its RAS affine."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist.")
    try:
        image = nib.load(str(path))
        array = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for unreadable files
        raise InvalidInputError(f"{path} is not a readable NIfTI file ({exc}).") from exc
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise InvalidInputError(f"{path} has {array.ndim} dimensions; a 3D volume is needed.")
    return array, np.asarray(image.affine, dtype=float)


def nifti_provenance(path: Path) -> dict[str, Any] | None:
    """The provenance stored in a NIfTI header extension, if any."""
    image = nib.load(str(path))
    for extension in image.header.extensions:
        try:
            data = json.loads(extension.get_content())
        except (ValueError, TypeError):
            continue
        if isinstance(data, dict) and data.get("generator") == "BrainGen3D":
            return data
    return None
