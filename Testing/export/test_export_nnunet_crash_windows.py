"""An nnU-Net dataset killed at any commit of a case passes nnU-Net's own check at that instant, and resume
completes it. nnU-Net finds the cases through dataset.json's "dataset" list, so numTraining and the cases it
finds change together, in the one rename of dataset.json."""

from __future__ import annotations

import json

import pytest

from braingen3d.export import NnunetDatasetWriter
from Testing.export.nnunet_cases import GRID, make_case, write_cases
from Testing.kill_at_commit import count_commits, kill_at_commit

pytest.importorskip("nnunetv2")

KILLS = [(n, when) for n in (1, 2, 3, 4) for when in ("before", "after")]


def nnunet_finds_every_case_it_expects(folder) -> int:
    """nnU-Net's own case discovery and the checks verify_dataset_integrity makes on it before reading any voxel:
    numTraining equals the number of cases found, and each one's image and label exist."""
    from batchgenerators.utilities.file_and_folder_operations import isfile
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

    meta = json.loads((folder / "dataset.json").read_text())
    dataset = get_filenames_of_train_images_and_targets(str(folder), meta)
    assert len(dataset) == meta["numTraining"], "Did not find the expected number of training cases"
    for case in dataset.values():
        assert all(isfile(image) for image in case["images"]) and isfile(case["label"])
    return len(dataset)


def open_writer(root, mode="new") -> NnunetDatasetWriter:
    return NnunetDatasetWriter(root, 507, "Crash", modality="FLAIR", mode=mode)


def test_a_case_is_four_commits_the_dataset_json_last(tmp_path, monkeypatch, provenance):
    writer = open_writer(tmp_path)
    assert count_commits(monkeypatch, lambda: write_cases(writer, [0], provenance)) == 4


@pytest.mark.parametrize("n, when", KILLS)
def test_killed_at_any_commit_of_a_case_the_dataset_passes_nnunets_check_and_resume_completes_it(
        tmp_path, monkeypatch, provenance, n, when):
    root, disk = tmp_path / "raw", tmp_path / "disk"
    root.mkdir()
    writer = open_writer(root)
    write_cases(writer, [0, 1], provenance)
    done = kill_at_commit(monkeypatch, lambda: write_cases(writer, [2], provenance), n, when, root, disk)
    assert [p.parent.name + "/" + p.name for p in done] == [
        "labelsTr/synth_002.nii.gz", "provenance/synth_002.json", "imagesTr/synth_002_0000.nii.gz",
        "Dataset507_Crash/dataset.json"][: len(done)]
    folder = disk / "Dataset507_Crash"
    listed = nnunet_finds_every_case_it_expects(folder)
    assert listed == (3 if n == 4 and when == "after" else 2)

    resumed = open_writer(disk, mode="resume")
    assert nnunet_finds_every_case_it_expects(folder) == (3 if n >= 3 and (n, when) != (3, "before") else 2)
    volume, label = make_case(2)
    resumed.write_case("synth_002", volume, GRID.affine, label, dict(provenance, seed=2))
    assert resumed.finalise() == 3
    assert nnunet_finds_every_case_it_expects(folder) == 3
    assert not [p for p in folder.rglob(".*") if p.name.endswith(".partial")]


@pytest.mark.slow
def test_killed_after_the_image_rename_before_dataset_json_passes_verify_dataset_integrity(tmp_path, monkeypatch,
                                                                                           provenance):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    root, disk = tmp_path / "raw", tmp_path / "disk"
    root.mkdir()
    writer = open_writer(root)
    write_cases(writer, [0, 1], provenance)
    kill_at_commit(monkeypatch, lambda: write_cases(writer, [2], provenance), 3, "after", root, disk)
    folder = disk / "Dataset507_Crash"
    assert (folder / "imagesTr" / "synth_002_0000.nii.gz").is_file()
    assert json.loads((folder / "dataset.json").read_text())["numTraining"] == 2
    verify_dataset_integrity(str(folder), num_processes=1)
