"""Input images as read from disk: the file's own data type, its RAS affine and its identity."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from ..core.errors import InvalidInputError
from .nifti import NIFTI_XFORM_SCANNER
from .nrrd_io import read_nrrd


@dataclass
class SourceImage:
    """A 3D image in (i, j, k) order with its 4x4 voxel-to-RAS ``affine``.

    Args:
        array: the data exactly as read (NIfTI: the stored type, or the scaled values if the header
            has a slope/intercept; NRRD: float32). Inpainting returns this type, bit-identical outside
            the edited region.
        affine: 4x4 voxel-to-RAS matrix in mm.
        path: the file it came from, if any.
        sha256: hex digest of that file.
        xform_code: the NIfTI sform code to write outputs with: the file's own (scanner for NRRD, and when the
            NIfTI file sets neither code).
        qform_code: the NIfTI qform code to write outputs with, chosen likewise (the file's own, possibly 0).
    """

    array: np.ndarray
    affine: np.ndarray
    path: Path | None = None
    sha256: str | None = None
    xform_code: int = NIFTI_XFORM_SCANNER
    qform_code: int = NIFTI_XFORM_SCANNER

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "(array)"


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_nifti(path: Path, role: str) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    try:
        image = nib.load(str(path))
        array = np.asanyarray(image.dataobj)
    except Exception as exc:  # nibabel raises many types for unreadable files
        raise InvalidInputError(f"The {role} {path} is not a readable NIfTI file ({exc}).") from exc
    sform_code = int(image.header["sform_code"])
    qform_code = int(image.header["qform_code"])
    if not sform_code and not qform_code:  # outputs must say their affine means something: scanner space
        sform_code = qform_code = NIFTI_XFORM_SCANNER
    return array, np.asarray(image.affine, dtype=float), (sform_code, qform_code)


def read_source(path: str | Path, role: str = "volume") -> SourceImage:
    """Read a NIfTI (.nii, .nii.gz) or NRRD (.nrrd, .nhdr) file as a ``SourceImage``.

    Args:
        path: the file.
        role: ``volume`` or ``mask``; used in error messages.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"The {role} file {path} does not exist. Check the path.")
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        array, affine, codes = _read_nifti(path, role)
    elif name.endswith((".nrrd", ".nhdr")):
        array, affine, _ = read_nrrd(path)
        codes = (NIFTI_XFORM_SCANNER, NIFTI_XFORM_SCANNER)
    else:
        raise InvalidInputError(f"The {role} {path} has an unsupported type; use NIfTI (.nii, .nii.gz) or NRRD (.nrrd).")
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise InvalidInputError(f"The {role} {path} has {array.ndim} dimensions with shape {array.shape}; a 3D image is needed.")
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise InvalidInputError(f"The {role} {path} has a degenerate voxel-to-world matrix; fix its header (sform/qform).")
    return SourceImage(array, affine, path, file_sha256(path), *codes)
