"""The export task: a file written by braingen3d (and its label mask) to NIfTI, NRRD, Slicer .seg.nrrd or DICOM.

Provenance is read from the source (``read_provenance``: sidecar, header, nnU-Net ``provenance/``)
and written into every output, which stays marked synthetic. Files without BrainGen3D provenance are
refused: the exporters would label a real scan "synthetic". All outputs are checked before the
first write, and if a later write fails the earlier outputs of the same call are removed.
Used by ``braingen3d export`` and the worker's ``export`` task.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InvalidInputError
from ..core.geometry import geometry_difference
from ..core.volume import SyntheticVolume
from ..export import LESION_SEGMENT, TISSUE_SEGMENTS, ProvenanceNotFoundError, read_provenance
from ..export.labels_nifti import export_labels_nifti
from ..export.seg_nrrd import export_seg_nrrd
from ..export.segments import SegmentSpec
from ..io import check_writable, sidecar_path, write_volume
from ..io.paths import stem, volume_suffix
from ..io.source import SourceImage, read_source
from ..prompts.parser import facts_from_prompt
from ..prompts.vocabulary import MODALITIES
from ..requests.export import LABEL_SUFFIX, ExportRequest

logger = logging.getLogger(__name__)

SEGMENT_SETS = {"lesion": (LESION_SEGMENT,), "tissue": TISSUE_SEGMENTS}


def export_volume(request: ExportRequest) -> list[Path]:
    """Export ``request.volume`` (and its mask) in ``request.format``; returns every path written.

    Raises:
        InvalidInputError: a bad request, a file without BrainGen3D provenance, a mask off the volume's grid, an
            existing output without ``overwrite``.
        OSError: a write failed (full disk, permissions); nothing of this export is left behind.
    """
    request = request.validated()
    volume = read_source(request.volume, "volume")
    provenance = with_export_note(synthetic_provenance(request.volume, "volume"), volume, request.format)
    label = segments = mask_provenance = None
    if request.mask is not None:
        label = read_mask(request.mask, volume)
        segments = choose_segments(label, request.segments)
        try:
            mask_record = synthetic_provenance(request.mask, "mask")
        except InvalidInputError:  # a hand-drawn mask: the volume's record, marked as the label's
            mask_record = {**provenance, "role": "label", "source_mask": request.mask.name}
        mask_provenance = with_export_note(mask_record, volume, request.format)
    if request.format == "dicom":
        return export_dicom(request, volume, provenance, label, segments, mask_provenance)
    return export_files(request, volume, provenance, label, segments, mask_provenance)


def synthetic_provenance(path: Path, role: str) -> dict[str, Any]:
    """The provenance of a BrainGen3D file; anything else is refused rather than relabelled synthetic."""
    try:
        record = read_provenance(path)
    except ProvenanceNotFoundError:
        raise InvalidInputError(
            f"The {role} {path} carries no BrainGen3D provenance (no sidecar, header key or descrip saying SYNTHETIC). "
            "braingen3d export only converts files braingen3d wrote, so that no real scan is ever marked synthetic."
        ) from None
    if record.get("synthetic") is not True:
        raise InvalidInputError(f"The provenance of {path} does not say synthetic: true; it will not be exported as synthetic.")
    return record


def read_mask(path: Path, volume: SourceImage) -> np.ndarray:
    """The mask's values as an integer array on the volume's grid, or a clear error."""
    mask = read_source(path, "mask")
    difference = geometry_difference(volume.shape, volume.affine, mask.shape, mask.affine)
    if difference is not None:
        raise InvalidInputError(f"The mask {path} is not on the grid of {volume.path}: {difference}. Export the mask "
                                "that was written with this volume, or resample it onto the volume's grid first.")
    values = np.asarray(mask.array)
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)) or values.min() < 0 or values.max() > 255:
        raise InvalidInputError(f"The mask {path} must hold whole numbers 0-255 (0 = background); threshold or round it first.")
    return values.astype(np.uint8)


def choose_segments(label: np.ndarray, requested: str) -> tuple[SegmentSpec, ...]:
    """The segments ``requested`` names, or for ``auto`` lesion for a 0/1 mask and tissue otherwise."""
    if requested != "auto":
        return SEGMENT_SETS[requested]
    return SEGMENT_SETS["lesion" if int(label.max(initial=0)) <= 1 else "tissue"]


def subject_facts(provenance: dict[str, Any]) -> dict[str, Any]:
    """Modality, age and sex of the synthetic subject: batch attributes first, else read from the prompt."""
    facts = facts_from_prompt(str(provenance.get("description") or provenance.get("prompt") or ""))
    attributes = provenance.get("attributes") if isinstance(provenance.get("attributes"), dict) else {}
    for key in ("modality", "age", "sex"):
        value = attributes.get(key, provenance.get(key) if key == "modality" else None)
        if value is not None:
            facts[key] = value
    return facts


def with_export_note(provenance: dict[str, Any], source: SourceImage, fmt: str) -> dict[str, Any]:
    return {**provenance, "exported_from": {"file": source.name, "sha256": source.sha256, "format": fmt}}


def _targets(request: ExportRequest) -> tuple[Path | None, Path | None]:
    """(volume output, label output) for the format; folders for DICOM are handled separately."""
    out = request.output  # its suffix was checked by ``ExportRequest.validated``
    if request.format == "seg.nrrd":
        return None, out
    if request.mask is None:
        return out, None
    default = out.with_name(stem(out) + LABEL_SUFFIX + (".seg.nrrd" if request.format == "nrrd" else volume_suffix(out)))
    return out, request.mask_output or default


def _refuse_inputs(targets: list[Path], request: ExportRequest) -> None:
    inputs = {p.resolve() for p in (request.volume, request.mask, sidecar_path(request.volume)) if p is not None}
    for target in targets:
        if target.resolve() in inputs:
            raise InvalidInputError(f"The output {target} would replace an input file; choose another -o.")


def export_files(request: ExportRequest, volume: SourceImage, provenance, label, segments, mask_provenance) -> list[Path]:
    volume_out, label_out = _targets(request)
    planned = [p for p in (volume_out, label_out) if p is not None]
    if volume_out is not None:
        planned.append(sidecar_path(volume_out))
    if label_out is not None and request.format == "nifti":
        planned.append(sidecar_path(label_out))
    if len({p.resolve() for p in planned}) != len(planned):
        raise InvalidInputError(f"The outputs {[str(p) for p in planned]} collide; choose a different --mask-output.")
    _refuse_inputs(planned, request)
    for target in planned:
        check_writable(target, request.overwrite)
    written: list[Path] = []
    try:
        if volume_out is not None:
            synthetic = SyntheticVolume(np.asarray(volume.array, dtype=np.float32), volume.affine, provenance)
            written += write_volume(synthetic, volume_out, overwrite=request.overwrite, preview=False,
                                    xform_code=volume.xform_code)
        if label_out is not None:
            if label_out.name.lower().endswith(".seg.nrrd"):
                written.append(export_seg_nrrd(label_out, label, volume.affine, mask_provenance, segments,
                                               image_shape=volume.shape, overwrite=request.overwrite))
            else:
                written.append(export_labels_nifti(label_out, label, volume.affine, mask_provenance, segments,
                                                   image_shape=volume.shape, overwrite=request.overwrite))
                written.append(sidecar_path(label_out))
    except BaseException:
        for path in written:  # all or nothing: no volume without the label that was asked for
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    return written


def export_dicom(request: ExportRequest, volume: SourceImage, provenance, label, segments, mask_provenance) -> list[Path]:
    from ..export import export_dicom_seg, export_dicom_series

    facts = subject_facts(provenance)
    modality = request.modality or facts.get("modality")
    if modality not in MODALITIES:
        raise InvalidInputError(f"Cannot tell the contrast of {request.volume} from its provenance; pass --modality "
                                f"({', '.join(MODALITIES)}).")
    folder = request.output
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"--to dicom writes a folder; {folder} is a file.")
    series_folder, seg_path = folder / "image", folder / "segmentation.dcm"
    targets = [series_folder] + ([seg_path] if label is not None else [])
    _refuse_inputs(targets, request)
    for target in targets:
        if target.exists() and not request.overwrite:
            raise InvalidInputError(f"{target} already exists. Pass --overwrite to replace it, or choose another -o folder.")
    created_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    series = None
    try:
        series = export_dicom_series(series_folder, volume.array, volume.affine, provenance, modality=modality,
                                     patient_age=request.patient_age if request.patient_age is not None else facts.get("age"),
                                     patient_sex=request.patient_sex or facts.get("sex"), overwrite=request.overwrite)
        written = [series.folder]
        if label is not None:
            written.append(export_dicom_seg(seg_path, label, volume.affine, series.folder, mask_provenance, segments,
                                            overwrite=request.overwrite))
    except BaseException:
        if series is not None:  # this call wrote the series but not the SEG that was asked for
            shutil.rmtree(series.folder, ignore_errors=True)
        if created_folder:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    logger.info("Wrote a synthetic %s DICOM series of %d slices%s", modality, len(series.files),
                " and its SEG" if label is not None else "")
    return written
