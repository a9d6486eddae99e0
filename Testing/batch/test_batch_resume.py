"""Resuming: finished cases are never rewritten; an existing dataset needs --resume or --overwrite."""

from __future__ import annotations

import pytest

from Testing.batch.batch_helpers import batch_args, read_json, run_cli, snapshot

pytestmark = pytest.mark.slow


def test_existing_dataset_without_resume_or_overwrite_is_refused_untouched(batch_copy, tiny_bundle):
    before = snapshot(batch_copy)
    code, _, err = run_cli(batch_args(tiny_bundle, batch_copy.parent, 4, 501, "SynthTest"))
    assert code == 2
    assert "already exists and is not empty" in err and "--resume" in err and "--overwrite" in err
    assert snapshot(batch_copy) == before


def test_resume_skips_finished_cases_and_adds_the_new_ones(batch_copy, tiny_bundle):
    before = snapshot(batch_copy)
    code, out, err = run_cli(batch_args(tiny_bundle, batch_copy.parent, 5, 501, "SynthTest", "--resume"))
    assert code == 0, err
    assert "5 of 5 planned cases are finished; this run wrote 1" in out
    after = snapshot(batch_copy)
    # Same inode, mtime and bytes: the four finished cases were not rewritten, not even atomically.
    assert {path: after[path] for path in before} == before
    assert set(after) - set(before) == {"imagesTr/synth_0004_0000.nii.gz", "labelsTr/synth_0004.nii.gz",
                                        "provenance/synth_0004.json"}
    assert read_json(batch_copy / "dataset.json")["numTraining"] == 5


def test_resume_with_other_settings_is_refused(batch_copy, tiny_bundle):
    before = snapshot(batch_copy)
    args = batch_args(tiny_bundle, batch_copy.parent, 4, 501, "SynthTest", "--resume")
    args[args.index("--seed") + 1] = "7"
    code, _, err = run_cli(args)
    assert code == 2 and "was made with different settings" in err
    assert snapshot(batch_copy) == before


def test_overwrite_starts_again_and_keeps_foreign_files(batch_copy, tiny_bundle):
    notes = batch_copy / "my_notes.txt"
    notes.write_text("keep me", encoding="utf-8")
    old = snapshot(batch_copy)
    code, _, err = run_cli(batch_args(tiny_bundle, batch_copy.parent, 2, 501, "SynthTest", "--overwrite"))
    assert code == 0, err
    assert sorted(p.name for p in (batch_copy / "imagesTr").iterdir()) == ["synth_0000_0000.nii.gz", "synth_0001_0000.nii.gz"]
    assert notes.read_text(encoding="utf-8") == "keep me"
    new = snapshot(batch_copy)
    assert new["imagesTr/synth_0000_0000.nii.gz"][0] != old["imagesTr/synth_0000_0000.nii.gz"][0], "rewritten"
    assert read_json(batch_copy / "dataset.json")["numTraining"] == 2
