"""Atomic writes for training outputs, through the engine's single implementation (braingen3d.io.atomic)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib

from braingen3d.io.atomic import atomic_write_bytes, atomic_write_text
from braingen3d.io.nifti import nifti_bytes


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see either the old or the complete new file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text, overwrite=True)


def save_nifti_atomic(image: nib.Nifti1Image, path: Path) -> None:
    """Save a NIfTI image atomically (gzip when the name ends in ``.nii.gz``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, nifti_bytes(image, path.name.endswith(".gz")), overwrite=True)
