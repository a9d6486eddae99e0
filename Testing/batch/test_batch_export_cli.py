"""``braingen3d export``: volumes and lesion masks read back identically by nibabel, SimpleITK and slicer-core."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from braingen3d.core.volume import SyntheticVolume
from braingen3d.io import write_nifti, write_volume
from Testing.batch.batch_helpers import read_json, run_cli
from Testing.export.export_readers import (
    LPS_FROM_RAS,
    ras_points_of,
    sample_sitk,
    sitk_index_to_lps,
    slicer_read_segmentation,
    voxel_centres_ras,
)

pytestmark = pytest.mark.slow

LESION_CASE = "synth_0001"  # planned with one lesion (see the plan printed by the dataset tests)


def oblique_affine() -> np.ndarray:
    """Rotated 12 degrees about S, anisotropic, x flipped: a grid on which axis mix-ups show."""
    angle = np.deg2rad(12.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([-9.0, 10.0, 11.0])
    affine[:3, 3] = (70.0, -90.0, -60.0)
    return affine


@pytest.fixture
def sources(batch_dataset: Path, tmp_path: Path) -> dict:
    """A batch case re-written by braingen3d.io on an oblique grid, as NIfTI and NRRD, plus a hand-drawn mask."""
    image = nib.load(batch_dataset / "imagesTr" / f"{LESION_CASE}_0000.nii.gz")
    volume = np.asarray(image.dataobj, dtype=np.float32)
    label = np.asarray(nib.load(batch_dataset / "labelsTr" / f"{LESION_CASE}.nii.gz").dataobj)
    assert label.any()
    provenance = read_json(batch_dataset / "provenance" / f"{LESION_CASE}.json")
    affine = oblique_affine()
    synthetic = SyntheticVolume(volume, affine, provenance)
    nifti, nrrd_path = tmp_path / "src" / "brain_a.nii.gz", tmp_path / "src" / "brain_b.nrrd"
    nifti.parent.mkdir()
    write_volume(synthetic, nifti, preview=False)
    write_volume(synthetic, nrrd_path, preview=False)
    mask = write_nifti(tmp_path / "src" / "drawn_mask.nii.gz", label.astype(np.uint8), affine)  # no provenance
    (tmp_path / "out").mkdir()
    return {"nifti": nifti, "nrrd": nrrd_path, "mask": mask, "volume": volume, "label": label, "affine": affine,
            "provenance": provenance, "out": tmp_path / "out"}


def test_nifti_volume_and_label(sources):
    out = sources["out"] / "case.nii.gz"
    code, printed, err = run_cli(["export", str(sources["nrrd"]), "--to", "nifti", "-o", str(out),
                                  "--mask", str(sources["mask"])])
    assert code == 0, err
    label_out = sources["out"] / "case_label.nii.gz"
    assert {Path(p).name for p in printed.split()} == {"case.nii.gz", "case.json", "case_label.nii.gz", "case_label.json"}
    for path, expected in ((out, sources["volume"]), (label_out, sources["label"])):
        image = nib.load(path)
        assert np.allclose(image.affine, sources["affine"], atol=1e-5)
        assert np.array_equal(np.asarray(image.dataobj), expected)
        itk = sitk.ReadImage(str(path))
        assert np.array_equal(sample_sitk(itk, expected.shape, sources["affine"]), expected)
    assert nib.load(label_out).get_data_dtype() == np.uint8
    for path in (out, label_out):
        code, printed, _ = run_cli(["provenance", str(path)])
        record = json.loads(printed)
        assert record["synthetic"] is True
        assert (record["prompt"], record["seed"]) == (sources["provenance"]["prompt"], sources["provenance"]["seed"])
        assert record["exported_from"]["file"] == "brain_b.nrrd" and record["exported_from"]["format"] == "nifti"
    assert read_json(sources["out"] / "case_label.json")["export"]["segments"][0]["name"] == "White matter lesion"


def test_nrrd_volume_and_slicer_segmentation(sources):
    out = sources["out"] / "case.nrrd"
    code, _, err = run_cli(["export", str(sources["nifti"]), "--to", "nrrd", "-o", str(out), "--mask", str(sources["mask"])])
    assert code == 0, err
    volume_itk = sitk.ReadImage(str(out))
    assert np.array_equal(sample_sitk(volume_itk, sources["volume"].shape, sources["affine"]), sources["volume"])
    seg = sources["out"] / "case_label.seg.nrrd"
    seg_itk = sitk.ReadImage(str(seg))
    assert np.array_equal(sample_sitk(seg_itk, sources["label"].shape, sources["affine"]), sources["label"])
    segments = slicer_read_segmentation(seg)
    assert list(segments) == ["White matter lesion"]
    lesion = segments["White matter lesion"]
    assert lesion["label_value"] == 1 and "Lesion" in lesion["terminology"]
    assert lesion["points"] == ras_points_of(sources["label"], 1, sources["affine"])
    assert json.loads(run_cli(["provenance", str(seg)])[1])["seed"] == sources["provenance"]["seed"]


def test_seg_nrrd_only(sources):
    seg = sources["out"] / "lesions.seg.nrrd"
    code, printed, err = run_cli(["export", str(sources["nifti"]), "--to", "seg.nrrd", "-o", str(seg),
                                  "--mask", str(sources["mask"])])
    assert code == 0, err
    assert printed.split() == [str(seg)]
    assert np.array_equal(sample_sitk(sitk.ReadImage(str(seg)), sources["label"].shape, sources["affine"]), sources["label"])


def test_dicom_series_and_seg(sources):
    pydicom = pytest.importorskip("pydicom")
    folder = sources["out"] / "dicom"
    code, printed, err = run_cli(["export", str(sources["nifti"]), "--to", "dicom", "-o", str(folder),
                                  "--mask", str(sources["mask"])])
    assert code == 0, err
    series_folder, seg_path = folder / "image", folder / "segmentation.dcm"
    assert printed.split() == [str(series_folder), str(seg_path)]

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(series_folder)))
    series = reader.Execute()
    shape, affine, volume = sources["volume"].shape, sources["affine"], sources["volume"]
    # Every source voxel centre is a voxel centre of the series (geometry), and values map back linearly.
    index = np.linalg.inv(sitk_index_to_lps(series)) @ LPS_FROM_RAS @ voxel_centres_ras(shape, affine)
    assert np.abs(index[:3] - np.rint(index[:3])).max() < 1e-3
    first = pydicom.dcmread(min(series_folder.iterdir()))
    mapping = first.RealWorldValueMappingSequence[0]
    stored = sample_sitk(series, shape, affine).astype(np.float64)
    restored = stored * float(mapping.RealWorldValueSlope) + float(mapping.RealWorldValueIntercept)
    assert np.abs(restored - volume).max() <= float(mapping.RealWorldValueSlope)
    assert first.SyntheticData == "YES" and "SYNTHETIC" in first.SeriesDescription
    attributes = sources["provenance"]["attributes"]
    assert first.PatientSex == attributes["sex"] and first.PatientAge == f"{attributes['age']:03d}Y"
    assert "FLAIR" in first.SeriesDescription

    seg = pydicom.dcmread(seg_path)
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and seg.SyntheticData == "YES"
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == first.SeriesInstanceUID
    assert seg.SegmentSequence[0].SegmentLabel == "White matter lesion"
    assert int(np.asarray(seg.pixel_array).astype(bool).sum()) == int(sources["label"].sum())
    for path in (series_folder, seg_path):
        record = json.loads(run_cli(["provenance", str(path)])[1])
        assert record["synthetic"] is True and record["seed"] == sources["provenance"]["seed"]
        assert record["case_id"] == LESION_CASE


def test_bad_export_input_is_refused_before_writing(sources, tmp_path):
    out = sources["out"]
    real_scan = write_nifti(tmp_path / "real.nii.gz", sources["volume"], sources["affine"])  # no BrainGen3D provenance
    moved = sources["affine"].copy()
    moved[:3, 3] += 5.0
    other_grid = write_nifti(tmp_path / "other_grid.nii.gz", sources["label"].astype(np.uint8), moved)
    fractional = write_nifti(tmp_path / "prob.nii.gz", sources["label"] * np.float32(0.5), sources["affine"])
    cases = [
        (["export", str(real_scan), "--to", "nifti", "-o", str(out / "a.nii.gz")], "carries no BrainGen3D provenance"),
        (["export", str(sources["nifti"]), "--to", "nifti", "-o", str(out / "a.nii.gz"), "--mask", str(other_grid)],
         "is not on the grid"),
        (["export", str(sources["nifti"]), "--to", "nifti", "-o", str(out / "a.nii.gz"), "--mask", str(fractional)],
         "whole numbers"),
        (["export", str(sources["nifti"]), "--to", "seg.nrrd", "-o", str(out / "a.seg.nrrd")], "pass --mask"),
        (["export", str(sources["nifti"]), "--to", "nifti", "-o", str(out / "a.nrrd")], "must end in"),
        (["export", str(sources["nifti"]), "--to", "nifti", "-o", str(sources["nifti"])], "would replace an input"),
    ]
    for argv, message in cases:
        code, _, err = run_cli(argv)
        assert code == 2 and message in err, (argv, err)
    assert not any(out.iterdir()), "nothing may be written"

    existing = out / "taken.nii.gz"
    existing.write_bytes(b"keep")
    code, _, err = run_cli(["export", str(sources["nifti"]), "--to", "nifti", "-o", str(existing), "--mask",
                            str(sources["mask"])])
    assert code == 2 and "--overwrite" in err
    assert existing.read_bytes() == b"keep" and sorted(p.name for p in out.iterdir()) == ["taken.nii.gz"]
    code, _, err = run_cli(["export", str(sources["nifti"]), "--to", "nifti", "-o", str(existing), "--overwrite"])
    assert code == 0, err
    assert np.array_equal(np.asarray(nib.load(existing).dataobj), sources["volume"])


def test_a_failed_seg_write_leaves_no_series_behind(sources, monkeypatch):
    import errno

    from braingen3d.export import dicom_seg

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dicom_seg, "export_dicom_seg", full_disk)
    folder = sources["out"] / "dicom"
    code, _, err = run_cli(["export", str(sources["nifti"]), "--to", "dicom", "-o", str(folder), "--mask",
                            str(sources["mask"])])
    assert code == 1 and "No space left on device" in err
    assert not folder.exists(), "the series written before the failed SEG is removed with its new folder"
