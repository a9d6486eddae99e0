"""Label masks as a DICOM Segmentation (SEG) referencing a synthetic MR series, with highdicom.

The SEG is BINARY, has one segment per :class:`~braingen3d.export.segments.SegmentSpec` (numbered
1..N in label-value order) with coded category/type/anatomic region, and its frames are the slices of
the referenced series, so any DICOM viewer overlays it on the right voxels.

Empty masks: the SEG is still written, with every described segment and all-zero frames. A synthetic
volume generated without lesions is a valid "no lesion" example, and an explicit empty SEG says so;
skipping the file would be indistinguishable from a failed export.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from .. import __version__ as ENGINE_VERSION
from ..core.errors import InvalidInputError
from ..io.atomic import atomic_output
from .dicom_identity import MANUFACTURER, MODEL_NAME, provenance_comment
from .orientation import ras_to_lps_affine, reorient_to_lps
from .provenance import normalise_provenance
from .segments import LESION_SEGMENT, CodedTerm, SegmentSpec, check_segments
from .validation import check_affine, check_label

logger = logging.getLogger(__name__)

_POSITION_TOLERANCE_MM = 1e-3


def _code(term: CodedTerm) -> Code:
    return Code(term.value, term.scheme, term.meaning)


def _segment_description(number: int, spec: SegmentSpec, provenance: Mapping[str, Any]) -> hd.seg.SegmentDescription:
    algorithm = hd.AlgorithmIdentificationSequence(
        name="BrainGen3D",
        version=str(provenance.get("engine_version", ENGINE_VERSION)),
        family=pydicom.sr.codedict.codes.DCM.ArtificialIntelligence,
        source=str(provenance.get("bundle_id", "")) or None,
    )
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=spec.name[:64],
        segmented_property_category=_code(spec.category),
        segmented_property_type=_code(spec.property_type),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
        tracking_uid=generate_uid(),
        tracking_id=spec.segment_id[:64],
        anatomic_regions=[_code(spec.anatomic_region)] if spec.anatomic_region else None,
        display_color=hd.color.CIELabColor.from_rgb(*(255.0 * c for c in spec.color)),
    )


def load_series(source: str | Path | Sequence[Dataset]) -> list[Dataset]:
    """The datasets of a single-frame series (a folder of files or datasets), sorted by Instance Number."""
    if isinstance(source, (str, Path)):
        folder = Path(source)
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise InvalidInputError(f"No DICOM files found in {folder}.")
        datasets = [pydicom.dcmread(p) for p in files]
    else:
        datasets = list(source)
    if not datasets:
        raise InvalidInputError("The source series is empty.")
    series = {ds.SeriesInstanceUID for ds in datasets}
    if len(series) != 1:
        raise InvalidInputError(f"Source images belong to {len(series)} series; pass exactly one series.")
    return sorted(datasets, key=lambda ds: int(ds.InstanceNumber))


def _frames_for_series(label: np.ndarray, affine: np.ndarray, datasets: Sequence[Dataset]) -> np.ndarray:
    """Reorient ``label`` like the series writer does and check it lies on the series' slices.

    Returns frames (slice, row, column) in the order of ``datasets``.
    """
    oriented, oriented_affine = reorient_to_lps(label, affine)
    lps = ras_to_lps_affine(oriented_affine)
    rows, columns, slices = oriented.shape[1], oriented.shape[0], oriented.shape[2]
    if len(datasets) != slices or int(datasets[0].Rows) != rows or int(datasets[0].Columns) != columns:
        raise InvalidInputError(
            f"label grid ({columns} columns x {rows} rows x {slices} slices after reorientation) does not match "
            f"the DICOM series ({datasets[0].Columns} x {datasets[0].Rows} x {len(datasets)}); "
            "pass the mask of the volume this series was exported from."
        )
    frames = np.empty((slices, rows, columns), dtype=np.uint8)
    for index, ds in enumerate(datasets):
        position = np.asarray([float(v) for v in ds.ImagePositionPatient])
        k = int(np.rint(np.linalg.solve(lps[:3, :3], position - lps[:3, 3])[2]))
        expected = (lps @ np.array([0.0, 0.0, float(k), 1.0]))[:3]
        if not 0 <= k < slices or np.linalg.norm(expected - position) > _POSITION_TOLERANCE_MM:
            raise InvalidInputError(
                f"DICOM slice {ds.InstanceNumber} at {position.tolist()} mm (LPS) is not a slice of the label's grid; "
                "the label affine does not match the series geometry."
            )
        frames[index] = oriented[:, :, k].T
    return frames


def export_dicom_seg(
    path: str | Path,
    label: np.ndarray,
    affine: np.ndarray,
    source_series: str | Path | Sequence[Dataset],
    provenance: Mapping[str, Any] | None,
    segments: Sequence[SegmentSpec] = (LESION_SEGMENT,),
    series_description: str = "SYNTHETIC BrainGen3D lesion SEG",
    series_number: int = 100,
    overwrite: bool = False,
) -> Path:
    """Write a label mask as a BINARY DICOM SEG that references a synthetic MR series.

    Args:
        path: output file (``.dcm``).
        label: the mask in (i, j, k) order on the grid of the exported volume.
        affine: the volume's 4x4 voxel-to-RAS affine (the one passed to ``export_dicom_series``).
        source_series: the series folder written by ``export_dicom_series``, or its datasets.
        provenance: the generation record; stored in Image Comments, and Synthetic Data is YES.
        segments: what each non-zero label value means. All are described, even if absent from
            the mask; an all-zero mask gives a valid SEG with empty frames.
        series_description: must contain SYNTHETIC.
        series_number: Series Number of the SEG.
        overwrite: replace an existing file instead of raising ``OutputExistsError``.

    Returns:
        the path written.
    """
    if "SYNTHETIC" not in series_description.upper():
        raise InvalidInputError(f"series_description {series_description!r} must say SYNTHETIC.")
    segments = check_segments(segments)
    affine = check_affine(affine)
    label = check_label(label, np.shape(label), [s.label_value for s in segments])
    if label.ndim != 3:
        raise InvalidInputError(f"label must be 3D in (i, j, k) order, got shape {label.shape}.")
    provenance = normalise_provenance(provenance)
    datasets = load_series(source_series)
    frames = _frames_for_series(label, affine, datasets)

    # Segment numbers must run 1..N; map each label value to its segment's number.
    numbering = np.zeros(256, dtype=np.uint8)
    for number, spec in enumerate(segments, start=1):
        numbering[spec.label_value] = number
    frames = numbering[frames]
    if not frames.any():
        logger.warning("Label mask is empty: writing a DICOM SEG with %d empty segment(s).", len(segments))

    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_segment_description(n, s, provenance) for n, s in enumerate(segments, start=1)],
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=str(provenance.get("engine_version", ENGINE_VERSION)),
        device_serial_number="SYNTHETIC",
        content_description="Synthetic lesion mask from BrainGen3D",
        content_label="SYNTHETIC",
        omit_empty_frames=False,
    )
    seg.SeriesDescription = series_description
    seg.SyntheticData = "YES"
    seg.ImageComments = provenance_comment(provenance)
    with atomic_output(path, overwrite=overwrite) as handle:
        seg.save_as(handle, enforce_file_format=True)
    logger.info("Wrote synthetic DICOM SEG %s (%d segments, %d frames)", path, len(segments), frames.shape[0])
    return Path(path)
