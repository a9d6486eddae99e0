"""Inpainting trials: masks in deep white matter, the measures, and verdicts that follow them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from braingen3d.bundle import make_random_bundle, preset_config
from braingen3d.pipelines.inpaint import LesionInpainter
from training import inpainting_report
from training.evaluation.inpainting import (
    InpaintTrial,
    deep_white_matter_centre,
    held_out_rows,
    markdown_trials,
    run_trials,
    summarise_trials,
)


def _cohort(folder: Path, grid) -> Path:
    """Two held-out subjects (FLAIR and T2 each): a white-matter ball (label 3) inside a grey-matter ball,
    inside a dim CSF rim (so that white matter is not the darkest foreground)."""
    folder.mkdir(parents=True, exist_ok=True)
    distance = np.linalg.norm(np.indices(grid.shape) - (np.array(grid.shape) / 2 - 0.5).reshape(3, 1, 1, 1), axis=0)
    labels = np.where(distance < 4, 3, np.where(distance < 7, 2, np.where(distance < 8, 1, 0))).astype(np.uint8)
    rows = []
    for subject in ("h0", "h1"):
        nib.save(nib.Nifti1Image(labels, grid.affine), folder / f"{subject}_labels.nii.gz")
        for modality, wm in (("FLAIR", 0.5), ("T2", 0.3)):
            image = np.select([labels == 3, labels == 2, labels == 1], [wm, 0.7, 0.1], 0.0).astype(np.float32)
            nib.save(nib.Nifti1Image(image, grid.affine), folder / f"{subject}_{modality}.nii.gz")
            rows.append({"subject_id": subject, "image": f"{subject}_{modality}.nii.gz", "modality": modality,
                         "tissue_map": f"{subject}_labels.nii.gz", "split": "test"})
    rows.append({"subject_id": "t0", "image": "h0_T2.nii.gz", "modality": "T2", "tissue_map": "h0_labels.nii.gz",
                 "split": "train"})
    with open(folder / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder / "manifest.csv"


def test_centres_lie_deep_in_white_matter() -> None:
    white_matter = np.zeros((20, 20, 20), dtype=bool)
    white_matter[4:16, 4:16, 4:16] = True
    for seed in range(5):
        centre = deep_white_matter_centre(white_matter, 3.0, np.random.default_rng(seed))
        assert all(7 <= c <= 12 for c in centre), centre


def test_held_out_rows_alternate_modalities(tmp_path: Path) -> None:
    manifest = _cohort(tmp_path / "cohort", preset_config("tiny").grid)
    rows = held_out_rows(manifest, ("FLAIR", "T2"), 4)
    assert [r["modality"] for r in rows] == ["FLAIR", "T2", "FLAIR", "T2"]
    assert [r["subject_id"] for r in rows] == ["h0", "h0", "h1", "h1"]
    with pytest.raises(ValueError, match="no held-out PD"):
        held_out_rows(manifest, ("PD",), 1)
    assert [r["subject_id"] for r in held_out_rows(manifest, ("T2",), 2, training=True)] == ["t0", "t0"]
    with pytest.raises(ValueError, match="no training FLAIR"):
        held_out_rows(manifest, ("FLAIR",), 1, training=True)


def test_tuning_on_training_subjects_never_updates_the_card(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        inpainting_report.main(["--manifest", str(tmp_path / "m.csv"), "--out", str(tmp_path / "out"),
                                "--tune-on-training", "--update-card"])


@pytest.mark.slow
def test_trials_measure_real_inpaintings(tmp_path: Path) -> None:
    bundle = make_random_bundle(tmp_path / "bundle", "tiny")
    grid = preset_config("tiny").grid
    manifest = _cohort(tmp_path / "cohort", grid)
    inpainter = LesionInpainter.from_bundle(bundle, "cpu")
    negatives = []

    def recording_inpainter(*args, **kwargs):
        negatives.append(kwargs["negative_prompt"])
        return inpainter(*args, **kwargs)

    trials = run_trials(recording_inpainter, manifest, "a white-matter lesion", 2, radius_mm=10.0, min_ratio=1.1, steps=2,
                        guidance=2.0, method="repaint", negative_prompt="no lesions")
    assert negatives == ["no lesions", "no lesions"]
    assert [(t.attempts, t.returned_seed) for t in trials] == [(1, 0), (1, 1)]  # no contrast named: nothing retried
    checked = run_trials(inpainter, manifest, "a white-matter hyperintensity", 2, radius_mm=10.0, min_ratio=1.1, steps=2,
                         guidance=2.0, method="repaint", attempts=2, min_contrast=3.0)
    for index, trial in enumerate(checked):  # random weights never make a 3x lesion: both seeds tried, closest kept
        assert trial.attempts == 2 and len(trial.engine_ratios) == 2 and trial.returned_seed in (index, index + 1)
    assert [t.modality for t in trials] == ["FLAIR", "T2"]
    for trial in trials:
        assert trial.max_change_outside == 0.0 and trial.mask_voxels > 0
        assert trial.changed_region_voxels >= trial.mask_voxels
        assert trial.passed == (trial.ratio >= 1.1)
        assert trial.original_ratio == pytest.approx(1.0)  # the mask sits in uniform white matter


def test_summary_and_table_follow_the_trials() -> None:
    def trial(ratio: float, outside: float = 0.0) -> InpaintTrial:
        return InpaintTrial("s", "FLAIR", 0, [1, 2, 3], 10, ratio, 1.0, ratio, 1.0, outside, 20, 5.0,
                            ratio >= 1.1 and outside == 0)

    passing = [trial(1.3)] * 18 + [trial(1.0)] * 2
    summary = summarise_trials(passing, 1.1)
    assert summary["pass_fraction"] == pytest.approx(0.9) and summary["max_change_outside"] == 0
    settings = {"prompt": "p", "radius_mm": 6.0, "method": "inpaint_unet", "steps": 25, "sampler": "dpm++",
                "guidance": 3.0, "device": "cpu"}
    assert "18/20 (90%; FLAIR 18/20): pass" in markdown_trials(summary, passing, settings)
    assert "made no retries" in markdown_trials(summary, passing, settings)
    retried = [trial(1.3)] * 19 + [InpaintTrial("s", "T2", 0, [1, 2, 3], 10, 1.2, 1.0, 1.2, 1.0, 0.0, 20, 9.0, True, 1, 2)]
    first = [trial(1.3)] * 17 + [trial(1.0)] * 3
    text = markdown_trials(summarise_trials(retried, 1.1), retried, {**settings, "attempts": 3, "min_contrast": 1.1},
                           (summarise_trials(first, 1.1), first))
    assert "up to 3 seeds per trial (margin 1.1" in text and "retried 1 of 20 trials (21 samples in all)" in text
    assert "first sample only (`--attempts 1`) | median 1.300, lowest 1.000" in text
    assert "17/20 (85%; FLAIR 17/20): FAIL" in text and "20/20 (100%; FLAIR 19/19, T2 1/1): pass" in text
    assert "negative prompt" not in markdown_trials(summary, passing, settings)
    assert 'negative prompt "no lesions"' in markdown_trials(summary, passing, {**settings, "negative_prompt": "no lesions"})
    control = [trial(1.2)] * 3 + [trial(0.9)] * 17
    with_control = markdown_trials(summary, passing, {**settings, "control_prompt": "no lesions"}, control=control)
    assert '| control: prompt "no lesions", first sample only | median 0.900, lowest 0.900 |' in with_control
    assert "3/20 reach 1.1 (FLAIR 3/20): measured |" in with_control and "mask rather than the prompt" in with_control
    assert "control" not in markdown_trials(summary, passing, settings)
    failing = [trial(1.3)] * 17 + [trial(1.0)] * 2 + [trial(1.3, outside=0.5)]
    table = markdown_trials(summarise_trials(failing, 1.1), failing, settings)
    assert "17/20 (85%; FLAIR 17/20): FAIL" in table and "| 0.5 | 0 | FAIL |" in table


@pytest.mark.slow
def test_report_runs_the_control_after_the_trials(tmp_path: Path) -> None:
    bundle = make_random_bundle(tmp_path / "bundle", "tiny")
    manifest = _cohort(tmp_path / "cohort", preset_config("tiny").grid)
    common = ["--bundle", str(bundle), "--manifest", str(manifest), "--trials", "2", "--radius-mm", "10",
              "--steps", "2", "--method", "repaint", "--attempts", "1"]
    assert inpainting_report.main([*common, "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "inpainting.json").read_text())
    assert results["settings"]["control_prompt"] == "no lesions"
    assert [t["modality"] for t in results["control"]["trials"]] == ["FLAIR", "T2"]
    assert all(t["attempts"] == 1 for t in results["control"]["trials"])
    assert 'control: prompt "no lesions"' in (tmp_path / "out" / "inpainting.md").read_text()
    assert inpainting_report.main([*common, "--out", str(tmp_path / "bare"), "--control-prompt", ""]) == 0
    assert "control" not in json.loads((tmp_path / "bare" / "inpainting.json").read_text())
