"""Label maps as NIfTI: uint8, the image's affine, ``descrip`` marked SYNTHETIC, plus a JSON sidecar."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InvalidInputError
from ..io.atomic import atomic_write_text, refuse_existing
from ..io.nifti import NIFTI_XFORM_SCANNER, write_nifti
from ..io.paths import sidecar_path
from .provenance import nifti_descrip, sidecar_text
from .segments import LESION_SEGMENT, SegmentSpec, check_segments
from .validation import check_affine, check_label

logger = logging.getLogger(__name__)


def segments_info(segments: Sequence[SegmentSpec]) -> list[dict[str, Any]]:
    """The segment descriptions as plain JSON values (for sidecars)."""
    return [asdict(s) for s in segments]


def export_labels_nifti(
    path: str | Path,
    label: np.ndarray,
    affine: np.ndarray,
    provenance: Mapping[str, Any] | None,
    segments: Sequence[SegmentSpec] = (LESION_SEGMENT,),
    image_shape: tuple[int, int, int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a label mask as a NIfTI label map with a JSON sidecar ``<stem>.json``.

    Args:
        path: output file, ending in ``.nii.gz`` (or ``.nii``).
        label: the mask in (i, j, k) order, 0 = background, on the image's grid.
        affine: the image's 4x4 voxel-to-RAS affine.
        provenance: the generation record (``synthetic`` must be true or absent).
        segments: what each non-zero label value means; every value in ``label`` needs one.
        image_shape: shape of the image the mask belongs to; a different mask shape raises.
        overwrite: replace existing files instead of raising ``OutputExistsError``.

    Returns:
        the path of the NIfTI file. The sidecar holds the provenance and the segment table.
    """
    path = Path(path)
    segments = check_segments(segments)
    affine = check_affine(affine)
    shape = np.shape(label) if image_shape is None else tuple(image_shape)
    label = check_label(label, shape, [s.label_value for s in segments])
    if label.ndim != 3:
        raise InvalidInputError(f"label must be 3D in (i, j, k) order, got shape {label.shape}.")
    sidecar = sidecar_path(path)
    refuse_existing(path, overwrite)
    refuse_existing(sidecar, overwrite)
    text = sidecar_text(provenance, {"kind": "label_map", "file": path.name, "segments": segments_info(segments)})
    write_nifti(path, label, affine, overwrite=overwrite, xform_code=NIFTI_XFORM_SCANNER,
                descrip=nifti_descrip("label map"), intent="label")
    atomic_write_text(sidecar, text, overwrite=overwrite)
    logger.info("Wrote label map %s (%d segments described)", path, len(segments))
    return path
