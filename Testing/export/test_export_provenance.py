"""read_provenance on every exported file type, and the synthetic marking of each."""

from __future__ import annotations

import json

import nibabel as nib
import nrrd
import numpy as np
import pytest

from braingen3d.core.errors import InvalidInputError
from braingen3d.export import (
    ProvenanceNotFoundError,
    export_dicom_seg,
    export_dicom_series,
    export_labels_nifti,
    export_seg_nrrd,
    read_provenance,
)
from braingen3d.export.provenance import normalise_provenance


def _same_record(read: dict, provenance: dict) -> None:
    for key, value in provenance.items():
        assert read[key] == value, key


def test_round_trip_through_every_exported_file_type(tmp_path, oblique_case, provenance):
    volume, affine, label = oblique_case
    nifti = export_labels_nifti(tmp_path / "lesions.nii.gz", label, affine, provenance)
    seg_nrrd = export_seg_nrrd(tmp_path / "lesions.seg.nrrd", label, affine, provenance)
    series = export_dicom_series(tmp_path / "series", volume, affine, provenance)
    seg = export_dicom_seg(tmp_path / "seg.dcm", label, affine, series.folder, provenance)

    for path in (nifti, tmp_path / "lesions.json", seg_nrrd, series.files[0], series.folder, seg):
        read = read_provenance(path)
        assert read["synthetic"] is True, path
        _same_record(read, provenance)


def test_nrrd_volume_keys_written_per_field(tmp_path):
    """NRRD volumes from braingen3d.io carry braingen3d_<key> fields; they are read back typed."""
    header = {
        "braingen3d_synthetic": "true",
        "braingen3d_seed": "42",
        "braingen3d_prompt": "T1 brain",
        "braingen3d_guidance_scale": "4.5",
    }
    nrrd.write(str(tmp_path / "v.nrrd"), np.zeros((2, 2, 2), np.float32), header)
    read = read_provenance(tmp_path / "v.nrrd")
    assert read == {"synthetic": True, "seed": 42, "prompt": "T1 brain", "guidance_scale": 4.5}


def test_nifti_falls_back_to_descrip_and_nested_sidecars(tmp_path):
    image = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4))
    image.header["descrip"] = b"SYNTHETIC BrainGen3D volume"
    nib.save(image, tmp_path / "bare.nii.gz")
    assert read_provenance(tmp_path / "bare.nii.gz")["synthetic"] is True

    nib.save(image, tmp_path / "nested.nii.gz")
    (tmp_path / "nested.json").write_text(
        json.dumps({"provenance": {"synthetic": True, "seed": 3}, "shape": [2, 2, 2]})
    )
    assert read_provenance(tmp_path / "nested.nii.gz") == {"synthetic": True, "seed": 3}


def test_files_without_provenance_are_reported(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)), tmp_path / "real.nii.gz")
    with pytest.raises(ProvenanceNotFoundError, match="SYNTHETIC"):
        read_provenance(tmp_path / "real.nii.gz")
    nrrd.write(str(tmp_path / "plain.nrrd"), np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ProvenanceNotFoundError, match="braingen3d"):
        read_provenance(tmp_path / "plain.nrrd")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InvalidInputError, match="unsupported"):
        read_provenance(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError):
        read_provenance(tmp_path / "missing.nii.gz")


def test_provenance_is_normalised_and_validated():
    record = normalise_provenance({"seed": np.int64(5), "guidance_scale": np.float32(2.5), "shape": np.array([1, 2])})
    assert record == {"seed": 5, "guidance_scale": 2.5, "shape": [1, 2], "synthetic": True}
    assert normalise_provenance(None) == {"synthetic": True}
    with pytest.raises(InvalidInputError, match="synthetic"):
        normalise_provenance({"synthetic": "yes"})
    with pytest.raises(InvalidInputError, match="cannot be stored as JSON"):
        normalise_provenance({"callback": object()})
    with pytest.raises(InvalidInputError, match="dict"):
        normalise_provenance(["not", "a", "dict"])


def test_long_prompts_are_shortened_in_dicom_not_refused(tmp_path, oblique_case, provenance):
    volume, affine, _ = oblique_case
    long = dict(provenance, prompt="lesion " * 3000)
    series = export_dicom_series(tmp_path / "s", volume, affine, long)
    read = read_provenance(series.files[0])
    assert read["prompt_truncated"] is True and read["seed"] == provenance["seed"]
    assert long["prompt"].startswith(read["prompt"])


def test_nifti_written_by_engine_io_is_read(tmp_path, provenance):
    """braingen3d.io embeds the record in a NIfTI header extension; no sidecar is needed to read it."""
    from braingen3d.io.nifti import write_nifti

    path = write_nifti(tmp_path / "brain.nii.gz", np.zeros((3, 3, 3), np.float32), np.eye(4), provenance)
    _same_record(read_provenance(path), provenance)
