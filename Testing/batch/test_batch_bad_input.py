"""Bad batch input fails with a clear message before anything is written; a full disk leaves a valid dataset."""

from __future__ import annotations

import errno

import pytest

from braingen3d.io import atomic as _atomic
from Testing.batch.batch_helpers import batch_args, read_json, run_cli, snapshot


@pytest.mark.parametrize("dataset_id,name,match", [
    (0, "Synth", "out of range"), (1000, "Synth", "out of range"), (12, "my dataset", "not allowed"),
    (12, "Dataset012_X", "without the 'DatasetNNN_' prefix"), (12, "a/b", "not allowed"),
])
def test_names_nnunet_would_reject(dataset_id, name, match, tiny_bundle, tmp_path):
    code, _, err = run_cli(batch_args(tiny_bundle, tmp_path, 3, dataset_id, name))
    assert code == 2 and match in err
    assert not any(tmp_path.iterdir()), "nothing may be written"


def test_an_id_used_by_another_dataset_is_refused(tiny_bundle, tmp_path):
    (tmp_path / "Dataset501_Other" / "imagesTr").mkdir(parents=True)
    code, _, err = run_cli(batch_args(tiny_bundle, tmp_path, 3, 501, "Mine"))
    assert code == 2 and "Dataset501_Other" in err and "--dataset-id" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dataset501_Other"]


def test_missing_required_choices(tiny_bundle, tmp_path):
    args = batch_args(tiny_bundle, tmp_path, 3)
    del args[args.index("--modality"):args.index("--modality") + 2]
    code, _, err = run_cli(args)
    assert code == 2 and "Pass --modality" in err
    args = batch_args(tiny_bundle, tmp_path, 3)
    args[args.index("--modality") + 1] = "T1,FLAIR"
    code, _, err = run_cli(args)
    assert code == 2 and "Run one batch per modality" in err
    args = batch_args(tiny_bundle, tmp_path, 3)
    del args[args.index("--num-cases"):args.index("--num-cases") + 2]
    code, _, err = run_cli(args)
    assert code == 2 and "Pass --n" in err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_full_disk_mid_batch_keeps_a_valid_dataset_and_resume_completes_it(tiny_bundle, tmp_path, monkeypatch):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    real_open = _atomic._open_temporary

    def open_temporary(path):
        if path.name.startswith(".synth_0002"):  # the third case: its first file (the label) hits a full disk
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path)

    monkeypatch.setattr(_atomic, "_open_temporary", open_temporary)
    code, _, err = run_cli(batch_args(tiny_bundle, tmp_path, 3))
    assert code == 1
    assert "No space left on device" in err and "--resume" in err
    folder = tmp_path / "Dataset501_SynthTest"
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == ["synth_0000_0000.nii.gz", "synth_0001_0000.nii.gz"]
    assert not list(folder.rglob("*.partial")), "no temporary file is left behind"
    assert read_json(folder / "dataset.json")["numTraining"] == 2
    verify_dataset_integrity(str(folder), num_processes=1)

    monkeypatch.undo()  # space was freed
    finished = snapshot(folder)
    code, out, err = run_cli(batch_args(tiny_bundle, tmp_path, 3, 501, "SynthTest", "--resume"))
    assert code == 0, err
    assert "3 of 3 planned cases are finished; this run wrote 1" in out
    after = snapshot(folder)
    assert {path: after[path] for path in finished} == finished
    verify_dataset_integrity(str(folder), num_processes=1)
