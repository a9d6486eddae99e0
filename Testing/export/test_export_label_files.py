"""Label exports (NIfTI label map, Slicer .seg.nrrd) read back with nibabel, SimpleITK, pynrrd and slicer-core."""

from __future__ import annotations

import json

import nibabel as nib
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk

from braingen3d.core.errors import InvalidInputError, OutputExistsError
from braingen3d.export import LESION_SEGMENT, TISSUE_SEGMENTS, export_labels_nifti, export_seg_nrrd
from Testing.export.export_readers import (
    ras_points_of,
    sample_ijk_array,
    sample_sitk,
    slicer_read_segmentation,
    slicer_read_volume,
)


# -- NIfTI label map --------------------------------------------------------------------------
def test_nifti_labels_same_geometry_and_values_in_three_readers(tmp_path, oblique_case, provenance):
    _, affine, label = oblique_case
    path = export_labels_nifti(tmp_path / "lesions.nii.gz", label, affine, provenance)

    image = nib.load(path)
    assert image.get_data_dtype() == np.uint8
    np.testing.assert_allclose(image.affine, affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(image.dataobj), label)
    assert image.header.get_intent()[0] == "label"
    assert b"SYNTHETIC" in bytes(image.header["descrip"])

    np.testing.assert_array_equal(sample_sitk(sitk.ReadImage(str(path)), label.shape, affine), label)

    # The oblique test affine is left-handed; Slicer stores such grids with k reversed, so compare
    # values at the same points in space rather than raw matrices (test_export_nnunet compares
    # matrices on a right-handed grid).
    array, ijk_to_ras = slicer_read_volume(path, labelmap=True)
    np.testing.assert_array_equal(sample_ijk_array(array, ijk_to_ras, label.shape, affine), label)


def test_nifti_labels_sidecar_holds_provenance_and_segment_table(tmp_path, oblique_case, provenance):
    _, affine, label = oblique_case
    export_labels_nifti(tmp_path / "lesions.nii.gz", label, affine, provenance)
    sidecar = json.loads((tmp_path / "lesions.json").read_text(encoding="utf-8"))
    assert sidecar["synthetic"] is True
    assert sidecar["prompt"] == provenance["prompt"] and sidecar["seed"] == 1234
    assert sidecar["bundle_id"] == provenance["bundle_id"] and sidecar["bundle_version"] == "0.0.1"
    assert sidecar["export"]["segments"][0]["name"] == "White matter lesion"
    assert sidecar["export"]["segments"][0]["property_type"]["value"] == "52988006"


def test_nifti_labels_refuse_bad_input_and_existing_output(tmp_path, oblique_case, provenance):
    _, affine, label = oblique_case
    with pytest.raises(InvalidInputError, match="differs from the volume shape"):
        export_labels_nifti(tmp_path / "a.nii.gz", label, affine, provenance, image_shape=(12, 14, 11))
    with pytest.raises(InvalidInputError, match="non-integer"):
        export_labels_nifti(tmp_path / "a.nii.gz", label * 0.5, affine, provenance)
    with pytest.raises(InvalidInputError, match=r"values \[3\] that have no segment description"):
        export_labels_nifti(tmp_path / "a.nii.gz", label * 3, affine, provenance)
    with pytest.raises(InvalidInputError, match="synthetic"):
        export_labels_nifti(tmp_path / "a.nii.gz", label, affine, {"synthetic": False})
    with pytest.raises(InvalidInputError, match="4x4"):
        export_labels_nifti(tmp_path / "a.nii.gz", label, affine[:3], provenance)
    assert not any(tmp_path.iterdir()), "a refused export must not leave files behind"

    export_labels_nifti(tmp_path / "a.nii.gz", label, affine, provenance)
    with pytest.raises(OutputExistsError, match="overwrite"):
        export_labels_nifti(tmp_path / "a.nii.gz", np.zeros_like(label), affine, provenance)
    np.testing.assert_array_equal(np.asarray(nib.load(tmp_path / "a.nii.gz").dataobj), label)
    export_labels_nifti(tmp_path / "a.nii.gz", np.zeros_like(label), affine, provenance, overwrite=True)
    assert not np.asarray(nib.load(tmp_path / "a.nii.gz").dataobj).any()


# -- Slicer .seg.nrrd -------------------------------------------------------------------------
def _tissue_mask(shape) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[1:4, 1:5, 1:4] = 2  # gray matter
    mask[6:9, 8:12, 5:8] = 3  # white matter
    mask[7, 9, 6] = 5  # lesion inside white matter
    return mask  # CSF (1) and ventricles (4) absent on purpose


def test_seg_nrrd_header_follows_slicer_format(tmp_path, oblique_case, provenance):
    _, affine, _ = oblique_case
    mask = _tissue_mask((12, 14, 10))
    path = export_seg_nrrd(tmp_path / "tissue.seg.nrrd", mask, affine, provenance, segments=TISSUE_SEGMENTS)
    data, header = nrrd.read(str(path))
    np.testing.assert_array_equal(data, mask)
    assert header["space"] == "left-posterior-superior"
    np.testing.assert_allclose(header["space directions"], (np.diag([-1, -1, 1]) @ affine[:3, :3]).T, atol=1e-9)
    np.testing.assert_allclose(header["space origin"], [-affine[0, 3], -affine[1, 3], affine[2, 3]])
    assert header["Segmentation_MasterRepresentation"] == "Binary labelmap"
    assert header["Segmentation_ContainedRepresentationNames"] == "Binary labelmap|"
    assert header["Segmentation_ReferenceImageExtentOffset"] == "0 0 0"
    assert [header[f"Segment{n}_LabelValue"] for n in range(5)] == ["1", "2", "3", "4", "5"]
    assert header["Segment4_Name"] == "White matter lesion"
    assert header["Segment4_Extent"] == "7 7 9 9 6 6"
    assert header["Segment0_Extent"] == "0 -1 0 -1 0 -1"  # CSF is described but empty
    assert all(header[f"Segment{n}_Layer"] == "0" for n in range(5))
    assert "SCT^52988006^Lesion" in header["Segment4_Tags"] and "SCT^68523003^" in header["Segment4_Tags"]
    assert header["braingen3d_synthetic"] == "YES"
    assert json.loads(header["braingen3d_provenance"])["seed"] == 1234


def test_seg_nrrd_reads_identically_in_slicer_simpleitk_and_pynrrd(tmp_path, oblique_case, provenance):
    _, affine, _ = oblique_case
    mask = _tissue_mask((12, 14, 10))
    path = export_seg_nrrd(tmp_path / "tissue.seg.nrrd", mask, affine, provenance, segments=TISSUE_SEGMENTS)

    np.testing.assert_array_equal(sample_sitk(sitk.ReadImage(str(path)), mask.shape, affine), mask)

    # Slicer can also load the file as a plain labelmap volume (vtkMRMLVolumeArchetypeStorageNode).
    array, ijk_to_ras = slicer_read_volume(path, labelmap=True)
    np.testing.assert_array_equal(sample_ijk_array(array, ijk_to_ras, mask.shape, affine), mask)

    segments = slicer_read_segmentation(path)
    assert list(segments) == [s.name for s in TISSUE_SEGMENTS]
    for spec in TISSUE_SEGMENTS:
        read = segments[spec.name]
        assert read["label_value"] == spec.label_value
        np.testing.assert_allclose(read["color"], spec.color, atol=1e-5)
        assert spec.property_type.value in read["terminology"] and spec.category.value in read["terminology"]
        assert read["points"] == ras_points_of(mask, spec.label_value, affine), spec.name


def test_seg_nrrd_lesion_default_and_errors(tmp_path, oblique_case, provenance):
    _, affine, label = oblique_case
    path = export_seg_nrrd(tmp_path / "lesion.seg.nrrd", label, affine, provenance)
    segments = slicer_read_segmentation(path)
    assert list(segments) == [LESION_SEGMENT.name]
    assert segments[LESION_SEGMENT.name]["points"] == ras_points_of(label, 1, affine)
    assert "Lesion" in segments[LESION_SEGMENT.name]["terminology"]

    with pytest.raises(InvalidInputError, match=r"\.seg\.nrrd"):
        export_seg_nrrd(tmp_path / "lesion.nrrd", label, affine, provenance)
    with pytest.raises(InvalidInputError, match="differs from the volume shape"):
        export_seg_nrrd(tmp_path / "x.seg.nrrd", label, affine, provenance, image_shape=(1, 2, 3))
    with pytest.raises(OutputExistsError):
        export_seg_nrrd(path, label, affine, provenance)


def test_seg_nrrd_of_empty_mask_lists_the_segment(tmp_path, oblique_case, provenance):
    _, affine, label = oblique_case
    path = export_seg_nrrd(tmp_path / "none.seg.nrrd", np.zeros_like(label), affine, provenance)
    segments = slicer_read_segmentation(path)
    assert list(segments) == [LESION_SEGMENT.name] and segments[LESION_SEGMENT.name]["points"] == set()
