"""Writing a generated volume: the image, its JSON sidecar and a PNG preview, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.volume import SyntheticVolume
from .atomic import atomic_write_text
from .finite import check_finite_voxels
from .nifti import NIFTI_XFORM_MNI_152, write_nifti
from .nrrd_io import write_nrrd
from .output_set import check_output_set, writing_output_set
from .paths import image_output_suffix, preview_path, sidecar_path, volume_suffix
from .preview import write_preview


def output_paths(path: Path, preview: bool = True) -> list[Path]:
    """Every file ``write_volume`` creates for ``path``."""
    paths = [Path(path), sidecar_path(path)]
    if preview:
        paths.append(preview_path(path))
    return paths


def check_outputs(path: Path, overwrite: bool, preview: bool = True) -> None:
    """Raise before any work if ``path`` is not an image file name (a folder, a .seg.nrrd, another type), or any
    output of it exists (without overwrite) or is unwritable (its folder is missing, a file, read-only).

    A sidecar or preview that an interrupted write left without its image is not in the way (see
    :mod:`braingen3d.io.output_set`)."""
    image_output_suffix(path)
    image, *others = output_paths(path, preview)
    check_output_set(image, others, overwrite)


def write_volume(volume: SyntheticVolume, path: Path, overwrite: bool = False, preview: bool = True,
                 xform_code: int = NIFTI_XFORM_MNI_152) -> list[Path]:
    """Write ``volume`` to ``path`` (.nii.gz, .nii or .nrrd) with sidecar and preview.

    Each file is written atomically and the image last, so the image is there only when its sidecar and preview
    are: a killed write leaves no image, and the next call replaces its sidecar, preview and hidden temporaries
    without ``overwrite``. With ``overwrite`` an existing image is removed before the new files are written. If
    a write fails, the files this call already wrote are removed. A volume with NaN or infinite voxels is
    refused (``NonFiniteOutputError``) before any file is written.
    """
    path = Path(path)
    check_outputs(path, overwrite, preview)
    check_finite_voxels(volume.array, path)
    image, *others = output_paths(path, preview)
    with writing_output_set(image, others, overwrite) as (replaceable, written):
        sidecar = sidecar_path(path)
        atomic_write_text(sidecar, json.dumps(volume.provenance, indent=2, sort_keys=True) + "\n",
                          sidecar in replaceable)
        written.append(sidecar)
        if preview:
            target = preview_path(path)
            written.append(write_preview(target, volume.array, volume.spacing, target in replaceable))
        if volume_suffix(path) == ".nrrd":
            written.append(write_nrrd(path, volume.array.astype(np.float32), volume.affine, volume.provenance, overwrite))
        else:
            written.append(write_nifti(path, volume.array.astype(np.float32), volume.affine, volume.provenance,
                                       overwrite, xform_code))
    return written
