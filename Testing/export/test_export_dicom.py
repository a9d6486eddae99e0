"""Synthetic MR series and DICOM SEG: dciodvfy-clean, geometry and values as the RAS affine says."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from braingen3d.core.errors import InvalidInputError, OutputExistsError
from braingen3d.core.geometry import mni_grid
from braingen3d.export import TISSUE_SEGMENTS, export_dicom_seg, export_dicom_series, read_provenance
from braingen3d.export.provenance import DICOM_COMMENT_PREFIX
from Testing.export.export_readers import (
    LPS_FROM_RAS,
    dciodvfy_errors,
    dciodvfy_warnings,
    sample_sitk,
    sitk_index_to_lps,
)


@pytest.fixture
def series(tmp_path, oblique_case, provenance):
    volume, affine, label = oblique_case
    written = export_dicom_series(
        tmp_path / "series", volume, affine, provenance, modality="FLAIR", patient_age=71, patient_sex="female"
    )
    return written, volume, affine, label


def _read_series(folder):
    datasets = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    return sorted(datasets, key=lambda ds: int(ds.InstanceNumber))


def test_series_passes_dciodvfy_without_errors_or_warnings(series):
    written, *_ = series
    for path in (written.files[0], written.files[len(written.files) // 2], written.files[-1]):
        assert dciodvfy_errors(path) == []
        assert dciodvfy_warnings(path) == []


def test_series_is_marked_synthetic_with_placeholder_identity(series, provenance):
    written, *_ = series
    datasets = _read_series(written.folder)
    assert len(datasets) == len(written.files) == 10  # k axis is nearest to S: one axial slice per k
    for ds in datasets:
        assert ds.SyntheticData == "YES"
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "OTHER"]
        assert "SYNTHETIC" in ds.SeriesDescription and ds.Modality == "MR"
        assert str(ds.PatientName) == "SYNTHETIC^BRAINGEN3D" and ds.PatientID.startswith("SYN-")
    first = datasets[0]
    assert first.PatientAge == "071Y" and first.PatientSex == "F" and first.PatientBirthDate == ""
    assert list(first.ScanningSequence) == ["SE", "IR"] and first.MRAcquisitionType == "3D"
    assert "InversionTime" in first and first.InversionTime is None
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    assert {ds.SeriesInstanceUID for ds in datasets} == {written.series_instance_uid}
    record = json.loads(first.ImageComments[len(DICOM_COMMENT_PREFIX) :])
    assert record["prompt"] == provenance["prompt"] and record["seed"] == provenance["seed"]
    assert read_provenance(written.folder)["bundle_id"] == provenance["bundle_id"]


def test_series_geometry_and_values_match_the_ras_affine_in_simpleitk(series):
    written, volume, affine, _ = series
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(written.folder)))
    image = reader.Execute()

    # Every voxel of the original grid lands on a voxel centre of the series, with its value
    # (within half a quantisation step).
    stored = sample_sitk(image, volume.shape, affine)
    np.testing.assert_allclose(
        stored * written.value_slope + written.value_intercept, volume, atol=written.value_slope / 2 + 1e-6
    )

    # Voxel (0, 0, 0) of the original is a corner of the series, and each original axis is
    # (anti)parallel to one series axis, in LPS.
    to_lps = sitk_index_to_lps(image)
    corner_lps = (LPS_FROM_RAS @ affine @ [0, 0, 0, 1])[:3]
    corner_index = np.linalg.solve(to_lps[:3, :3], corner_lps - to_lps[:3, 3])
    size = np.array(image.GetSize()) - 1
    assert np.allclose(corner_index, np.rint(corner_index), atol=1e-4)
    assert all(np.isclose(c, 0) or np.isclose(c, s) for c, s in zip(corner_index, size, strict=True))
    original_axes = (LPS_FROM_RAS[:3, :3] @ affine[:3, :3]) / np.linalg.norm(affine[:3, :3], axis=0)
    series_axes = np.array(image.GetDirection()).reshape(3, 3)
    cosines = np.abs(original_axes.T @ series_axes)
    assert np.allclose(np.sort(cosines.max(axis=1)), 1.0, atol=1e-6)


def test_series_geometry_and_values_in_pydicom(series):
    written, volume, affine, _ = series
    datasets = _read_series(written.folder)
    first = datasets[0]
    row_dir = np.array(first.ImageOrientationPatient[:3], dtype=float)
    col_dir = np.array(first.ImageOrientationPatient[3:], dtype=float)
    row_spacing, col_spacing = (float(v) for v in first.PixelSpacing)
    mapping = first.RealWorldValueMappingSequence[0]
    inverse = np.linalg.inv(LPS_FROM_RAS @ affine)
    for ds in datasets:
        position = np.array(ds.ImagePositionPatient, dtype=float)
        rows, cols = np.meshgrid(np.arange(ds.Rows), np.arange(ds.Columns), indexing="ij")
        points = (
            position[:, None, None]
            + row_dir[:, None, None] * cols * col_spacing
            + col_dir[:, None, None] * rows * row_spacing
        )
        ijk = inverse @ np.vstack([points.reshape(3, -1), np.ones((1, rows.size))])
        assert np.allclose(ijk[:3], np.rint(ijk[:3]), atol=1e-3), "pixel centres must be voxel centres of the original"
        i, j, k = np.rint(ijk[:3]).astype(int)
        values = ds.pixel_array.reshape(-1) * float(mapping.RealWorldValueSlope) + float(
            mapping.RealWorldValueIntercept
        )
        np.testing.assert_allclose(values, volume[i, j, k], atol=float(mapping.RealWorldValueSlope) / 2 + 1e-6)
    assert float(first.SpacingBetweenSlices) == pytest.approx(2.5)
    assert float(first.WindowWidth) >= 1.0


def test_series_refuses_bad_input(tmp_path, oblique_case, provenance):
    volume, affine, _ = oblique_case
    sheared = affine.copy()
    sheared[0, 1] += 0.5
    with pytest.raises(InvalidInputError, match="non-orthogonal"):
        export_dicom_series(tmp_path / "a", volume, sheared, provenance)
    with pytest.raises(InvalidInputError, match="modality"):
        export_dicom_series(tmp_path / "a", volume, affine, provenance, modality="CT")
    with pytest.raises(InvalidInputError, match="SYNTHETIC"):
        export_dicom_series(tmp_path / "a", volume, affine, provenance, series_description="T1 MPRAGE")
    with pytest.raises(InvalidInputError, match="patient_sex"):
        export_dicom_series(tmp_path / "a", volume, affine, provenance, patient_sex="unknown")
    with pytest.raises(InvalidInputError, match="NaN"):
        export_dicom_series(tmp_path / "a", np.full_like(volume, np.nan), affine, provenance)
    assert not any(tmp_path.iterdir())
    export_dicom_series(tmp_path / "a", volume, affine, provenance)
    with pytest.raises(OutputExistsError):
        export_dicom_series(tmp_path / "a", volume, affine, provenance)


# -- SEG --------------------------------------------------------------------------------------
def _seg_frames_in_original_grid(seg_path, affine, shape) -> dict[int, np.ndarray]:
    """Rebuild each segment as an (i, j, k) mask of the original grid from the SEG's frame positions."""
    seg = pydicom.dcmread(seg_path)
    shared = seg.SharedFunctionalGroupsSequence[0]
    orientation = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
    row_spacing, col_spacing = (float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing)
    inverse = np.linalg.inv(LPS_FROM_RAS @ affine)
    masks = {int(s.SegmentNumber): np.zeros(shape, dtype=bool) for s in seg.SegmentSequence}
    pixels = seg.pixel_array.reshape(int(seg.NumberOfFrames), seg.Rows, seg.Columns)
    for frame, group in zip(pixels, seg.PerFrameFunctionalGroupsSequence, strict=True):
        identification = group if "SegmentIdentificationSequence" in group else shared  # shared when one segment
        number = int(identification.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        position = np.array(group.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        rows, cols = np.nonzero(frame)
        points = (
            position[:, None] + orientation[:3, None] * cols * col_spacing + orientation[3:, None] * rows * row_spacing
        )
        ijk = np.rint(inverse @ np.vstack([points, np.ones((1, rows.size))]))[:3].astype(int)
        masks[number][tuple(ijk)] = True
    return masks


def test_seg_passes_dciodvfy_and_overlays_the_series(tmp_path, series, provenance):
    written, _, affine, label = series
    path = export_dicom_seg(tmp_path / "lesions.dcm", label, affine, written.folder, provenance)
    assert dciodvfy_errors(path) == []
    assert dciodvfy_warnings(path) == []

    seg = pydicom.dcmread(path)
    assert seg.SyntheticData == "YES" and "SYNTHETIC" in seg.SeriesDescription
    assert seg.SegmentationType == "BINARY"
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == written.series_instance_uid
    assert seg.FrameOfReferenceUID == written.frame_of_reference_uid
    assert (
        seg.StudyInstanceUID == written.study_instance_uid
        and seg.PatientID == pydicom.dcmread(written.files[0]).PatientID
    )
    segment = seg.SegmentSequence[0]
    assert segment.SegmentLabel == "White matter lesion"
    assert segment.SegmentedPropertyTypeCodeSequence[0].CodeValue == "52988006"
    assert segment.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert segment.AnatomicRegionSequence[0].CodeValue == "68523003"

    masks = _seg_frames_in_original_grid(path, affine, label.shape)
    np.testing.assert_array_equal(masks[1], label == 1)
    assert read_provenance(path)["seed"] == provenance["seed"]


def test_seg_with_several_segments_and_an_empty_mask(tmp_path, series, provenance):
    written, _, affine, label = series
    tissue = np.where(label == 1, 5, 0).astype(np.uint8)
    tissue[0:2, 0:3, 0:2] = 2
    path = export_dicom_seg(
        tmp_path / "tissue.dcm", tissue, affine, written.folder, provenance, segments=TISSUE_SEGMENTS
    )
    assert dciodvfy_errors(path) == []
    masks = _seg_frames_in_original_grid(path, affine, label.shape)
    for number, spec in enumerate(TISSUE_SEGMENTS, start=1):
        np.testing.assert_array_equal(masks[number], tissue == spec.label_value, err_msg=spec.name)

    empty = export_dicom_seg(tmp_path / "empty.dcm", np.zeros_like(label), affine, written.folder, provenance)
    assert dciodvfy_errors(empty) == []
    seg = pydicom.dcmread(empty)
    assert len(seg.SegmentSequence) == 1 and not seg.pixel_array.any()


def test_seg_refuses_a_mask_that_is_not_on_the_series_grid(tmp_path, series, provenance):
    written, _, affine, label = series
    shifted = affine.copy()
    shifted[:3, 3] += 1.0
    with pytest.raises(InvalidInputError, match="does not match the series geometry"):
        export_dicom_seg(tmp_path / "x.dcm", label, shifted, written.folder, provenance)
    other = mni_grid((12, 14, 9), 2.0)
    with pytest.raises(InvalidInputError, match="does not match"):
        export_dicom_seg(tmp_path / "x.dcm", label[:, :, :9], other.affine, written.folder, provenance)
    assert not (tmp_path / "x.dcm").exists()


def test_dciodvfy_check_is_real(tmp_path, series):
    """The validator catches a deliberately broken copy, so the clean results above mean something."""
    written, *_ = series
    ds = pydicom.dcmread(written.files[0])
    del ds.ImagePositionPatient
    ds.PatientSex = "X"
    ds.save_as(tmp_path / "broken.dcm")
    errors = dciodvfy_errors(tmp_path / "broken.dcm")
    assert any("ImagePositionPatient" in e for e in errors)
    assert any("Patient's Sex" in e for e in errors)
