"""Writing an inpainting result: the volume and the lesion mask, each with a JSON sidecar, all or nothing."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..io import atomic_write_text, check_writable, sidecar_path, write_nifti, write_nrrd
from ..io.nifti import NIFTI_XFORM_SCANNER
from ..io.paths import stem, volume_suffix

LESION_MASK_SUFFIX = "_lesion_mask"


@dataclass(frozen=True)
class InpaintOutputPaths:
    """Where the inpainted volume and its lesion mask go (sidecars sit beside each)."""

    volume: Path
    lesion_mask: Path

    @classmethod
    def beside(cls, volume: Path, lesion_mask: Path | None = None) -> "InpaintOutputPaths":
        """``brain.nii.gz`` → mask ``brain_lesion_mask.nii.gz`` unless ``lesion_mask`` is given."""
        volume = Path(volume)
        mask = Path(lesion_mask) if lesion_mask else volume.with_name(stem(volume) + LESION_MASK_SUFFIX + volume_suffix(volume))
        return cls(volume, mask)

    @classmethod
    def in_folder(cls, folder: Path, source_name: str, seed: int, tag: str = "") -> "InpaintOutputPaths":
        """Worker naming: ``<source>_inpainted_seed<seed><tag>.nii.gz`` and ``..._lesion_mask_...``."""
        base = source_name
        for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr"):
            if base.lower().endswith(suffix):
                base = base[: -len(suffix)]
                break
        folder = Path(folder)
        return cls(folder / f"{base}_inpainted_seed{seed}{tag}.nii.gz", folder / f"{base}{LESION_MASK_SUFFIX}_seed{seed}{tag}.nii.gz")

    def files(self) -> list[Path]:
        return [self.volume, sidecar_path(self.volume), self.lesion_mask, sidecar_path(self.lesion_mask)]


def check_inpaint_outputs(paths: InpaintOutputPaths, overwrite: bool, sources: list[Path | None]) -> None:
    """Fail before any work if an output exists (without ``overwrite``), is unwritable, or would replace an input."""
    for path in (paths.volume, paths.lesion_mask):
        volume_suffix(path)
    files = paths.files()
    if len({f.resolve() for f in files}) != len(files):
        raise InvalidInputError(f"The volume output {paths.volume} and the lesion-mask output {paths.lesion_mask} "
                                "collide; choose different names.")
    protected = {Path(s).resolve() for s in sources if s is not None}
    for target in files:
        if target.resolve() in protected:
            raise InvalidInputError(f"The output {target} would replace an input file. Choose another output path; "
                                    "inputs are never overwritten.")
        check_writable(target, overwrite)


def _write_image(path: Path, array: np.ndarray, affine: np.ndarray, provenance: dict[str, Any], overwrite: bool,
                 xform_code: int) -> Path:
    if volume_suffix(path) == ".nrrd":
        return write_nrrd(path, array, affine, provenance, overwrite)
    return write_nifti(path, array, affine, provenance, overwrite, xform_code)


def write_inpaint_outputs(result, paths: InpaintOutputPaths, overwrite: bool = False,
                          xform_code: int = NIFTI_XFORM_SCANNER) -> list[Path]:
    """Write ``result`` (an ``InpaintResult``): sidecars first, then the mask, then the volume.

    Each file is written atomically; if any write fails, the files this call already wrote are removed.

    Args:
        result: the inpainting result.
        paths: where to write.
        overwrite: replace existing files.
        xform_code: NIfTI sform/qform code (the source's, so the output stays in the same space).
    """
    written: list[Path] = []
    try:
        for path, provenance in ((paths.volume, result.provenance), (paths.lesion_mask, result.mask_provenance)):
            sidecar = sidecar_path(path)
            atomic_write_text(sidecar, json.dumps(provenance, indent=2, sort_keys=True) + "\n", overwrite)
            written.append(sidecar)
        written.append(_write_image(paths.lesion_mask, result.lesion_mask.astype(np.uint8), result.affine,
                                    result.mask_provenance, overwrite, xform_code))
        written.append(_write_image(paths.volume, result.array, result.affine, result.provenance, overwrite, xform_code))
    except BaseException:
        for done in written:
            with contextlib.suppress(FileNotFoundError):
                done.unlink()
        raise
    return written
