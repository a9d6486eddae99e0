"""NIfTI writing and reading with provenance in ``descrip`` and a JSON header extension."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from ..errors import InvalidInputError
from ..provenance import short_description
from .atomic import atomic_path

NIFTI_XFORM_SCANNER = 1
NIFTI_XFORM_MNI_152 = 4


def make_nifti(array: np.ndarray, affine: np.ndarray, provenance: dict[str, Any] | None = None,
               xform_code: int = NIFTI_XFORM_MNI_152) -> nib.Nifti1Image:
    """A NIfTI-1 image with both qform and sform set to ``affine`` and provenance in the header."""
    image = nib.Nifti1Image(np.asarray(array), np.asarray(affine, dtype=float))
    image.set_qform(affine, code=xform_code)
    image.set_sform(affine, code=xform_code)
    image.header.set_xyzt_units("mm", "sec")
    if provenance:
        image.header["descrip"] = short_description(provenance).encode("ascii")
        payload = json.dumps(provenance, sort_keys=True).encode("utf-8")
        image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", payload))
    return image


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray, provenance: dict[str, Any] | None = None,
                overwrite: bool = False, xform_code: int = NIFTI_XFORM_MNI_152) -> Path:
    """Write ``array`` (i, j, k) with its RAS ``affine`` to ``path`` atomically."""
    with atomic_path(Path(path), overwrite) as tmp:
        nib.save(make_nifti(array, affine, provenance, xform_code), str(tmp))
    return Path(path)


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
