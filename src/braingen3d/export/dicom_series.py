"""Synthetic volumes as a classic DICOM MR Image series (one file per axial slice), with pydicom.

pydicom rather than highdicom: highdicom builds the newer multi-frame and derived objects (SEG, SR,
parametric maps) but has no constructor for the single-frame MR Image Storage class that every PACS
and viewer reads, so the series is assembled attribute by attribute here.

Geometry: the volume is first permuted/flipped to the axes closest to +L, +P, +S (see
:func:`~braingen3d.export.orientation.reorient_to_lps`), giving an axial series in radiological
layout. Every voxel keeps its position: Image Position/Orientation (Patient) are the LPS form of the
RAS affine.

Intensities: the float range [min, max] is mapped linearly onto unsigned 16-bit integers 0..65535.
The mapping back to the original values is recorded in a Real World Value Mapping item (slope and
intercept as FD, so exact), not in Rescale Slope/Intercept: the MR Image IOD has no Modality LUT, and
validators warn that a non-identity rescale breaks windowing in MR viewers. Reading back
``stored * slope + intercept`` gives the original values within half a slope step.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pydicom.valuerep import format_number_as_ds

from ..core.errors import InvalidInputError
from ..io.atomic import atomic_directory
from .dicom_identity import (
    DERIVATION_DESCRIPTION,
    add_synthetic_identity,
    creation_datetime,
    provenance_comment,
)
from .orientation import ras_to_lps_affine, reorient_to_lps
from .provenance import normalise_provenance
from .validation import check_affine, check_volume

logger = logging.getLogger(__name__)

_STORED_MAX = 65535  # unsigned 16-bit


@dataclass(frozen=True)
class MRSequenceAttributes:
    """MR Image module attributes that say which kind of sequence the synthetic contrast imitates."""

    scanning_sequence: tuple[str, ...]
    sequence_variant: tuple[str, ...]

    @property
    def inversion_recovery(self) -> bool:
        return "IR" in self.scanning_sequence


#: Typical sequences for each contrast: MPRAGE-like T1, turbo spin echo T2/PD, inversion-recovery FLAIR.
MR_SEQUENCES: Mapping[str, MRSequenceAttributes] = {
    "T1": MRSequenceAttributes(("GR", "IR"), ("SK", "SP", "MP")),
    "T2": MRSequenceAttributes(("SE",), ("SK", "SP")),
    "FLAIR": MRSequenceAttributes(("SE", "IR"), ("SK", "SP", "MP")),
    "PD": MRSequenceAttributes(("SE",), ("SK", "SP")),
}


@dataclass(frozen=True)
class DicomSeries:
    """Where a series was written, the identifiers that tie a SEG to it, and the intensity mapping.

    Original value = stored value * ``value_slope`` + ``value_intercept``.
    """

    folder: Path
    files: tuple[Path, ...]
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str
    value_slope: float
    value_intercept: float


def _ds(value: float) -> str:
    return format_number_as_ds(float(value))


def quantise(volume: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map ``volume`` linearly onto 0..65535.

    Returns:
        the uint16 array, slope and intercept, with original value = stored * slope + intercept.
    """
    low, high = float(volume.min()), float(volume.max())
    slope = (high - low) / _STORED_MAX if high > low else 1.0
    stored = np.clip(np.round((volume.astype(np.float64) - low) / slope), 0, _STORED_MAX).astype(np.uint16)
    return stored, slope, low


def display_window(stored: np.ndarray) -> tuple[float, float]:
    """Window centre and width (stored units) covering the 0.5th-99.5th percentile of non-background voxels."""
    foreground = stored[stored > 0.01 * _STORED_MAX]
    if foreground.size == 0:
        foreground = stored.ravel()
    p_low, p_high = np.percentile(foreground, [0.5, 99.5])
    width = max(float(p_high - p_low), 1.0)
    return float(p_low + p_high) / 2.0, width


def real_world_value_mapping(slope: float, intercept: float) -> Dataset:
    """A Real World Value Mapping item: stored 0..65535 to the generator's intensity units (no physical unit)."""
    units = Dataset()
    units.CodeValue = "1"
    units.CodingSchemeDesignator = "UCUM"
    units.CodeMeaning = "no units"
    item = Dataset()
    item.LUTExplanation = "BrainGen3D generator intensity (synthetic, arbitrary units)"
    item.LUTLabel = "BRAINGEN3D"
    item.MeasurementUnitsCodeSequence = [units]
    item.RealWorldValueFirstValueMapped = 0
    item.RealWorldValueLastValueMapped = _STORED_MAX
    item.RealWorldValueIntercept = float(intercept)
    item.RealWorldValueSlope = float(slope)
    return item


def series_geometry(affine: np.ndarray) -> dict[str, Any]:
    """Per-series plane geometry of an LPS-reoriented RAS ``affine``: orientation, spacings and normal."""
    lps = ras_to_lps_affine(affine)
    axes = lps[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    unit = axes / spacing
    if (
        abs(unit[:, 0] @ unit[:, 1]) > 1e-4
        or abs(unit[:, 0] @ unit[:, 2]) > 1e-4
        or abs(unit[:, 1] @ unit[:, 2]) > 1e-4
    ):
        raise InvalidInputError(
            "affine has non-orthogonal (sheared) voxel axes, which a DICOM image series cannot represent; "
            "resample the volume onto an orthogonal grid first."
        )
    normal = np.cross(unit[:, 0], unit[:, 1])
    return {
        "lps": lps,
        "row_direction": unit[:, 0],  # direction of increasing column index (i)
        "column_direction": unit[:, 1],  # direction of increasing row index (j)
        "normal": normal,
        "pixel_spacing": (spacing[1], spacing[0]),  # (between rows, between columns)
        "slice_spacing": abs(float(axes[:, 2] @ normal)),
    }


def _slice_dataset(
    template: Dataset,
    stored_slice: np.ndarray,
    position: np.ndarray,
    normal: np.ndarray,
    instance_number: int,
) -> Dataset:
    ds = Dataset()
    ds.update(template)
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.SliceLocation = _ds(float(position @ normal))
    ds.Rows, ds.Columns = stored_slice.shape
    ds.PixelData = np.ascontiguousarray(stored_slice, dtype="<u2").tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def export_dicom_series(
    folder: str | Path,
    volume: np.ndarray,
    affine: np.ndarray,
    provenance: Mapping[str, Any] | None,
    modality: str = "T1",
    series_description: str | None = None,
    series_number: int = 1,
    study_instance_uid: str | None = None,
    patient_age: float | int | None = None,
    patient_sex: str | None = None,
    overwrite: bool = False,
) -> DicomSeries:
    """Write a synthetic volume as an MR Image Storage series, one file per axial slice.

    Args:
        folder: output folder, created atomically (it must not exist unless ``overwrite``).
        volume: float volume in (i, j, k) order.
        affine: its 4x4 voxel-to-RAS affine; voxel axes must be orthogonal.
        provenance: the generation record; stored as JSON in Image Comments.
        modality: ``T1``, ``T2``, ``FLAIR`` or ``PD``; picks Scanning Sequence / Sequence Variant.
        series_description: defaults to ``"SYNTHETIC BrainGen3D <modality>"``; must contain SYNTHETIC.
        series_number: Series Number.
        study_instance_uid: put the series in an existing study; a new UID by default.
        patient_age: age in years of the requested synthetic subject (Patient's Age), optional.
        patient_sex: ``M``/``F``/``O`` of the requested synthetic subject (Patient's Sex), optional.
        overwrite: replace an existing folder (the old one is removed only after the new one is in place).

    Returns:
        a :class:`DicomSeries` with the files (ordered by Instance Number) and UIDs.
    """
    if modality not in MR_SEQUENCES:
        raise InvalidInputError(f"modality {modality!r} is not one of {sorted(MR_SEQUENCES)}.")
    description = series_description or f"SYNTHETIC BrainGen3D {modality}"
    if "SYNTHETIC" not in description.upper():
        raise InvalidInputError(f"series_description {description!r} must say SYNTHETIC.")
    if len(description) > 64:
        raise InvalidInputError(f"series_description must be at most 64 characters, got {len(description)}.")
    volume = check_volume(volume)
    affine = check_affine(affine)
    provenance = normalise_provenance(provenance)
    volume, affine = reorient_to_lps(volume, affine)
    geometry = series_geometry(affine)
    stored, slope, intercept = quantise(volume)
    centre, width = display_window(stored)
    sequence = MR_SEQUENCES[modality]
    study_uid = study_instance_uid or generate_uid()
    series_uid, frame_uid = generate_uid(), generate_uid()
    when = creation_datetime(provenance)

    template = Dataset()
    add_synthetic_identity(template, provenance, study_uid, patient_age, patient_sex)
    template.SOPClassUID = MRImageStorage
    template.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
    template.InstanceCreationDate = template.SeriesDate = template.ContentDate = when.strftime("%Y%m%d")
    template.InstanceCreationTime = template.SeriesTime = template.ContentTime = when.strftime("%H%M%S")
    template.Modality = "MR"
    template.SeriesInstanceUID = series_uid
    template.SeriesNumber = series_number
    template.SeriesDescription = description
    template.BodyPartExamined = "BRAIN"
    template.PatientPosition = "HFS"
    template.FrameOfReferenceUID = frame_uid
    template.PositionReferenceIndicator = ""
    template.ImageOrientationPatient = [_ds(v) for v in (*geometry["row_direction"], *geometry["column_direction"])]
    template.PixelSpacing = [_ds(v) for v in geometry["pixel_spacing"]]
    template.SliceThickness = _ds(geometry["slice_spacing"])
    template.SpacingBetweenSlices = _ds(geometry["slice_spacing"])
    template.SamplesPerPixel = 1
    template.PhotometricInterpretation = "MONOCHROME2"
    template.BitsAllocated = 16
    template.BitsStored = 16
    template.HighBit = 15
    template.PixelRepresentation = 0
    template.RealWorldValueMappingSequence = [real_world_value_mapping(slope, intercept)]
    template.WindowCenter = _ds(centre)
    template.WindowWidth = _ds(width)
    template.ScanningSequence = list(sequence.scanning_sequence)
    template.SequenceVariant = list(sequence.sequence_variant)
    template.ScanOptions = ""
    template.MRAcquisitionType = "3D"
    # Type 2: present but empty, since no acquisition took place (inventing TR/TE would mislead).
    template.RepetitionTime = None
    template.EchoTime = None
    template.EchoTrainLength = None
    if sequence.inversion_recovery:
        template.InversionTime = None
    template.BurnedInAnnotation = "NO"
    template.LossyImageCompression = "00"
    template.DerivationDescription = DERIVATION_DESCRIPTION
    template.ImageComments = provenance_comment(provenance)

    folder = Path(folder)
    names = []
    with atomic_directory(folder, overwrite=overwrite) as staging:
        for k in range(stored.shape[2]):
            position = (geometry["lps"] @ np.array([0.0, 0.0, float(k), 1.0]))[:3]
            ds = _slice_dataset(template, stored[:, :, k].T, position, geometry["normal"], k + 1)
            name = f"MR{k + 1:05d}.dcm"
            ds.save_as(staging / name, enforce_file_format=True)
            names.append(name)
    logger.info("Wrote synthetic DICOM MR series (%d slices) to %s", len(names), folder)
    return DicomSeries(
        folder=folder,
        files=tuple(folder / n for n in names),
        study_instance_uid=study_uid,
        series_instance_uid=series_uid,
        frame_of_reference_uid=frame_uid,
        value_slope=slope,
        value_intercept=intercept,
    )
