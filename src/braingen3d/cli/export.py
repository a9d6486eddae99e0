"""``braingen3d export``: a generated volume (and its lesion mask) to NIfTI, NRRD, Slicer .seg.nrrd or DICOM.

Provenance is read from the source (``read_provenance``: sidecar, header, nnU-Net ``provenance/``)
and written into every output, which stays marked synthetic. Files without BrainGen3D provenance are
refused: the exporters would label a real scan "synthetic". All outputs are checked before the
first write, and if a later write fails the earlier outputs of the same call are removed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..batch.prompt_templates import MODALITIES
from ..prompts.parser import facts_from_prompt
from ..core.errors import BrainGenError, InvalidInputError
from ..export import LESION_SEGMENT, TISSUE_SEGMENTS, ProvenanceNotFoundError, read_provenance
from ..export.labels_nifti import export_labels_nifti
from ..export.seg_nrrd import export_seg_nrrd
from ..pipelines.inpaint.inputs import geometry_difference
from ..io.source import SourceImage, read_source
from ..io import check_writable, sidecar_path, write_volume
from ..io.paths import stem, volume_suffix
from ..core.volume import SyntheticVolume
from .common import EXIT_INTERNAL, EXIT_OK

logger = logging.getLogger(__name__)

FORMATS = {
    "nifti": "volume as .nii.gz (+ JSON sidecar); with --mask also a NIfTI label map",
    "nrrd": "volume as .nrrd; with --mask also a Slicer segmentation (.seg.nrrd)",
    "seg.nrrd": "only the --mask, as a Slicer segmentation on the volume's grid",
    "dicom": "a folder with the MR series (image/) and, with --mask, a DICOM SEG referencing it (segmentation.dcm)",
}
SEGMENT_SETS = {"lesion": (LESION_SEGMENT,), "tissue": TISSUE_SEGMENTS}
LABEL_SUFFIX = "_label"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a generated volume and its lesion mask to NIfTI, NRRD, Slicer .seg.nrrd or DICOM",
        description="Convert a volume written by braingen3d (and optionally its label mask) for segmentation "
                    "tools. Provenance is carried over from the source; every output is marked synthetic. Formats: "
                    + "; ".join(f"{k}: {v}" for k, v in FORMATS.items()) + ".",
        epilog="examples: braingen3d export brain.nii.gz --to dicom -o dicom_out --mask brain_lesion_mask.nii.gz; "
               "braingen3d export brain.nii.gz --to seg.nrrd --mask brain_lesion_mask.nii.gz -o lesions.seg.nrrd",
    )
    parser.add_argument("volume", type=Path, help="a volume written by braingen3d (.nii, .nii.gz or .nrrd)")
    parser.add_argument("--to", required=True, choices=list(FORMATS), dest="format", help="output format")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="output file (nifti: .nii.gz, nrrd: .nrrd, seg.nrrd: .seg.nrrd) or folder (dicom)")
    parser.add_argument("--mask", type=Path, default=None, help="label mask on the volume's grid (0 = background)")
    parser.add_argument("--mask-output", type=Path, default=None,
                        help=f"where the label goes for nifti/nrrd (default: OUTPUT with {LABEL_SUFFIX} before the suffix)")
    parser.add_argument("--segments", default="auto", choices=["auto", *SEGMENT_SETS],
                        help="what label values mean: lesion (1 = white-matter lesion), tissue (1 CSF, 2 grey matter, "
                             "3 white matter, 4 ventricles, 5 lesion) or auto (lesion for 0/1 masks, else tissue)")
    parser.add_argument("--modality", default=None, choices=list(MODALITIES),
                        help="DICOM contrast (default: from the provenance or the prompt)")
    parser.add_argument("--patient-age", type=int, default=None, help="DICOM Patient's Age of the synthetic subject "
                                                                      "(default: from the provenance or the prompt)")
    parser.add_argument("--patient-sex", default=None, choices=["F", "M", "O"],
                        help="DICOM Patient's Sex of the synthetic subject (default: from the provenance or the prompt)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")
    parser.set_defaults(handler=run)


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


def choose_segments(label: np.ndarray, requested: str):
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


def _targets(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """(volume output, label output) for the format; folders for DICOM are handled separately."""
    out = args.output
    if args.format == "seg.nrrd":
        if not out.name.lower().endswith(".seg.nrrd"):
            raise InvalidInputError(f"--to seg.nrrd writes a Slicer segmentation; -o must end in .seg.nrrd (got {out}).")
        return None, out
    suffixes = {"nifti": (".nii.gz", ".nii"), "nrrd": (".nrrd",)}[args.format]
    if not out.name.lower().endswith(suffixes) or out.name.lower().endswith(".seg.nrrd"):
        raise InvalidInputError(f"--to {args.format}: -o must end in {' or '.join(suffixes)} (got {out}).")
    if args.mask is None:
        return out, None
    default = out.with_name(stem(out) + LABEL_SUFFIX + (".seg.nrrd" if args.format == "nrrd" else volume_suffix(out)))
    return out, args.mask_output or default


def _refuse_inputs(targets: list[Path], args: argparse.Namespace) -> None:
    inputs = {p.resolve() for p in (args.volume, args.mask, sidecar_path(args.volume)) if p is not None}
    for target in targets:
        if target.resolve() in inputs:
            raise InvalidInputError(f"The output {target} would replace an input file; choose another -o.")


def run(args: argparse.Namespace) -> int:
    if args.format == "seg.nrrd" and args.mask is None:
        raise InvalidInputError("--to seg.nrrd exports a label mask; pass --mask MASK (the volume gives the grid and provenance).")
    if args.mask_output is not None and args.format not in ("nifti", "nrrd"):
        raise InvalidInputError("--mask-output applies to --to nifti and --to nrrd only.")
    volume = read_source(args.volume, "volume")
    provenance = with_export_note(synthetic_provenance(args.volume, "volume"), volume, args.format)
    label = segments = mask_provenance = None
    if args.mask is not None:
        label = read_mask(args.mask, volume)
        segments = choose_segments(label, args.segments)
        try:
            mask_record = synthetic_provenance(args.mask, "mask")
        except InvalidInputError:  # a hand-drawn mask: the volume's record, marked as the label's
            mask_record = {**provenance, "role": "label", "source_mask": args.mask.name}
        mask_provenance = with_export_note(mask_record, volume, args.format)
    try:
        written = export_dicom(args, volume, provenance, label, segments, mask_provenance) if args.format == "dicom" \
            else export_files(args, volume, provenance, label, segments, mask_provenance)
    except BrainGenError:
        raise  # OutputExistsError is also an OSError; it is a usage error, reported by run_guarded
    except OSError as error:  # full disk, permissions: nothing of this export was left behind
        print(f"error: {error}. No output of this export was kept; fix the cause and run it again.", file=sys.stderr)
        return EXIT_INTERNAL
    for path in written:
        print(path)
    return EXIT_OK


def export_files(args, volume: SourceImage, provenance, label, segments, mask_provenance) -> list[Path]:
    volume_out, label_out = _targets(args)
    planned = [p for p in (volume_out, label_out) if p is not None]
    if volume_out is not None:
        planned.append(sidecar_path(volume_out))
    if label_out is not None and args.format == "nifti":
        planned.append(sidecar_path(label_out))
    if len({p.resolve() for p in planned}) != len(planned):
        raise InvalidInputError(f"The outputs {[str(p) for p in planned]} collide; choose a different --mask-output.")
    _refuse_inputs(planned, args)
    for target in planned:
        check_writable(target, args.overwrite)
    written: list[Path] = []
    try:
        if volume_out is not None:
            synthetic = SyntheticVolume(np.asarray(volume.array, dtype=np.float32), volume.affine, provenance)
            written += write_volume(synthetic, volume_out, overwrite=args.overwrite, preview=False,
                                    xform_code=volume.xform_code)
        if label_out is not None:
            if label_out.name.lower().endswith(".seg.nrrd"):
                written.append(export_seg_nrrd(label_out, label, volume.affine, mask_provenance, segments,
                                               image_shape=volume.shape, overwrite=args.overwrite))
            else:
                written.append(export_labels_nifti(label_out, label, volume.affine, mask_provenance, segments,
                                                   image_shape=volume.shape, overwrite=args.overwrite))
                written.append(sidecar_path(label_out))
    except BaseException:
        for path in written:  # all or nothing: no volume without the label that was asked for
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    return written


def export_dicom(args, volume: SourceImage, provenance, label, segments, mask_provenance) -> list[Path]:
    from ..export import export_dicom_seg, export_dicom_series

    facts = subject_facts(provenance)
    modality = args.modality or facts.get("modality")
    if modality not in MODALITIES:
        raise InvalidInputError(f"Cannot tell the contrast of {args.volume} from its provenance; pass --modality "
                                f"({', '.join(MODALITIES)}).")
    folder = args.output
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"--to dicom writes a folder; {folder} is a file.")
    series_folder, seg_path = folder / "image", folder / "segmentation.dcm"
    targets = [series_folder] + ([seg_path] if label is not None else [])
    _refuse_inputs(targets, args)
    for target in targets:
        if target.exists() and not args.overwrite:
            raise InvalidInputError(f"{target} already exists. Pass --overwrite to replace it, or choose another -o folder.")
    created_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    series = None
    try:
        series = export_dicom_series(series_folder, volume.array, volume.affine, provenance, modality=modality,
                                     patient_age=args.patient_age if args.patient_age is not None else facts.get("age"),
                                     patient_sex=args.patient_sex or facts.get("sex"), overwrite=args.overwrite)
        written = [series.folder]
        if label is not None:
            written.append(export_dicom_seg(seg_path, label, volume.affine, series.folder, mask_provenance, segments,
                                            overwrite=args.overwrite))
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
