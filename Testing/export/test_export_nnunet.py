"""nnU-Net v2 raw dataset writer, judged by nnU-Net's own verify_dataset_integrity."""

from __future__ import annotations

import json
import multiprocessing

import nibabel as nib
import numpy as np
import pytest

from braingen3d.core.errors import InvalidInputError, OutputExistsError
from braingen3d.export import NnunetDatasetWriter, read_provenance
from Testing.export.export_readers import slicer_read_volume
from Testing.export.nnunet_cases import GRID, make_case, write_cases


def verify(folder) -> None:
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    verify_dataset_integrity(str(folder), num_processes=1)


@pytest.mark.slow
def test_dataset_passes_nnunet_verify_dataset_integrity(tmp_path, provenance):
    writer = NnunetDatasetWriter(tmp_path, 501, "SynthLesions", modality="T2")
    write_cases(writer, range(3), provenance)
    assert writer.finalise() == 3
    folder = tmp_path / "Dataset501_SynthLesions"
    assert writer.folder == folder

    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "T2"}
    assert meta["labels"] == {"background": 0, "lesion": 1}
    assert meta["numTraining"] == 3 and meta["file_ending"] == ".nii.gz"
    assert meta["synthetic"] is True and "SYNTHETIC" in meta["description"]
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == [f"synth_00{i}_0000.nii.gz" for i in range(3)]

    verify(folder)

    image = nib.load(folder / "imagesTr" / "synth_001_0000.nii.gz")
    volume, label = make_case(1)
    np.testing.assert_array_equal(np.asarray(image.dataobj), volume)
    assert b"SYNTHETIC" in bytes(image.header["descrip"])
    assert read_provenance(folder / "imagesTr" / "synth_001_0000.nii.gz")["seed"] == 1
    assert read_provenance(folder / "labelsTr" / "synth_001.nii.gz")["synthetic"] is True

    # slicer-core reads the same geometry (right-handed grid: matrices must match exactly).
    array, ijk_to_ras = slicer_read_volume(folder / "imagesTr" / "synth_001_0000.nii.gz")
    np.testing.assert_allclose(ijk_to_ras, GRID.affine, atol=1e-5)
    np.testing.assert_array_equal(array, volume)
    array, ijk_to_ras = slicer_read_volume(folder / "labelsTr" / "synth_001.nii.gz", labelmap=True)
    np.testing.assert_allclose(ijk_to_ras, GRID.affine, atol=1e-5)
    np.testing.assert_array_equal(array, label)


@pytest.mark.slow
def test_verify_fails_on_a_broken_export(tmp_path, provenance):
    writer = NnunetDatasetWriter(tmp_path, 502, "Broken")
    write_cases(writer, range(3), provenance)
    writer.finalise()
    folder = writer.folder
    bad = folder / "labelsTr" / "synth_001.nii.gz"
    image = nib.load(bad)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj) * 2, image.affine), bad)  # label 2 is not declared
    with pytest.raises(RuntimeError, match="unexpected labels"):
        verify(folder)
    bad.unlink()  # an image without its label (dataset.json lists both, so nnU-Net names the missing label)
    with pytest.raises(FileNotFoundError, match="Missing labels:\n.*labelsTr/synth_001.nii.gz"):
        verify(folder)


def test_names_are_checked_like_nnunet(tmp_path):
    for dataset_id in (0, 1000, -5, "501", True):
        with pytest.raises(InvalidInputError, match="id"):
            NnunetDatasetWriter(tmp_path, dataset_id, "Name")
    for name in ("", "has space", "dots.no", "a/b", "Dataset501_X", "ü", "x" * 65):
        with pytest.raises(InvalidInputError, match="name"):
            NnunetDatasetWriter(tmp_path, 501, name)
    (tmp_path / "Dataset503_Other").mkdir()
    with pytest.raises(InvalidInputError, match="two datasets with one id"):
        NnunetDatasetWriter(tmp_path, 503, "Mine")
    with pytest.raises(InvalidInputError, match="consecutive"):
        NnunetDatasetWriter(tmp_path, 504, "Gap", labels={"background": 0, "lesion": 2})
    writer = NnunetDatasetWriter(tmp_path, 505, "Ok")
    volume, label = make_case(0)
    with pytest.raises(InvalidInputError, match="case id"):
        writer.write_case("bad id", volume, GRID.affine, label, None)
    with pytest.raises(InvalidInputError, match="differs from the volume shape"):
        writer.write_case("c1", volume, GRID.affine, label[:-1], None)
    with pytest.raises(InvalidInputError, match=r"values \[2\]"):
        writer.write_case("c1", volume, GRID.affine, label * 2, None)
    assert writer.finished_cases() == []


def test_modes_new_resume_overwrite(tmp_path, provenance):
    writer = NnunetDatasetWriter(tmp_path, 510, "Modes")
    write_cases(writer, range(2), provenance)
    (writer.folder / "README_mine.txt").write_text("user notes")

    with pytest.raises(OutputExistsError, match="--resume.*--overwrite"):
        NnunetDatasetWriter(tmp_path, 510, "Modes")
    with pytest.raises(InvalidInputError, match="channel_names"):
        NnunetDatasetWriter(tmp_path, 510, "Modes", modality="FLAIR", mode="resume")

    first = writer.image_path("synth_000").stat()
    resumed = NnunetDatasetWriter(tmp_path, 510, "Modes", mode="resume")
    assert resumed.has_case("synth_000") and not resumed.has_case("synth_002")
    assert write_cases(resumed, range(4), provenance) == [False, False, True, True]
    after = writer.image_path("synth_000").stat()
    assert (after.st_ino, after.st_mtime_ns) == (first.st_ino, first.st_mtime_ns), (
        "resume must not rewrite finished cases"
    )
    assert resumed.finalise() == 4

    replaced = NnunetDatasetWriter(tmp_path, 510, "Modes", mode="overwrite")
    assert replaced.finished_cases() == []
    assert json.loads((replaced.folder / "dataset.json").read_text())["numTraining"] == 0
    assert (replaced.folder / "README_mine.txt").read_text() == "user notes", (
        "overwrite deletes only the dataset's own files"
    )
    with pytest.raises(OutputExistsError, match="unique"):
        write_cases(replaced, [7, 7], provenance)


def _worker(root: str, seeds: list[int], provenance: dict) -> None:
    writer = NnunetDatasetWriter(root, 520, "Parallel", mode="resume")
    write_cases(writer, seeds, provenance)


def test_concurrent_writers_keep_dataset_json_consistent(tmp_path, provenance):
    NnunetDatasetWriter(tmp_path, 520, "Parallel")  # rank 0 creates the dataset
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_worker, args=(str(tmp_path), seeds, provenance)) for seeds in ([0, 2, 4], [1, 3, 5])
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    folder = tmp_path / "Dataset520_Parallel"
    # Before any finalise: the index written by the last writer already counts every case.
    assert json.loads((folder / "dataset.json").read_text())["numTraining"] == 6
    assert not [p for p in folder.rglob(".*.partial")]
