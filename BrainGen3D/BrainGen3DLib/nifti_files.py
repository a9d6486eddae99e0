"""Writing scene data as NIfTI files for the child processes (inpainting worker, export job).

The array is in nibabel order (i, j, k) and the affine is the node's IJK-to-RAS matrix, written as
both sform and qform (code 1, scanner) so that every reader places the voxels where Slicer shows
them. With a provenance record the file also gets the engine's markers: ``descrip`` starting with
``SYNTHETIC BrainGen3D``, a JSON header extension and a ``<name>.json`` sidecar.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .storage_provenance import write_sidecar

NIFTI_XFORM_SCANNER = 1
MAX_STEM_LENGTH = 60


def file_stem(name: str, fallback: str = "volume") -> str:
    """A file-name stem from a node name: letters, digits, ``-`` and ``_`` only (``"T1 [seed 4]"`` → ``"T1_seed_4"``)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name or "").strip("_")[:MAX_STEM_LENGTH].rstrip("_")
    return stem or fallback


def write_nifti(path: str | os.PathLike, array: np.ndarray, affine: np.ndarray,
                provenance: dict[str, Any] | None = None) -> Path:
    """Write ``array`` (i, j, k) with the voxel-to-RAS ``affine`` to ``path`` (.nii or .nii.gz), atomically.

    Args:
        path: the target file; its folder must exist.
        array: the voxels in nibabel order, in the data type to store.
        affine: 4x4 voxel-to-RAS matrix.
        provenance: if given, the synthetic markers and a JSON sidecar are written too.

    Returns:
        ``path``.
    """
    import nibabel as nib

    path = Path(path)
    image = nib.Nifti1Image(np.asarray(array), np.asarray(affine, dtype=float))
    image.set_sform(affine, code=NIFTI_XFORM_SCANNER)
    image.set_qform(affine, code=NIFTI_XFORM_SCANNER)
    if provenance is not None:
        description = f"SYNTHETIC BrainGen3D {provenance.get('bundle_id', '')} seed={provenance.get('seed', '')}"
        image.header["descrip"] = description.encode("ascii", "replace")[:79]
        image.header.extensions.append(
            nib.nifti1.Nifti1Extension("comment", json.dumps(provenance, sort_keys=True).encode("utf-8")))
    suffix = ".nii.gz" if path.name.lower().endswith(".gz") else ".nii"
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        nib.save(image, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if provenance is not None:
        write_sidecar(path, provenance)
    return path
