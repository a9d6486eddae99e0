"""The command lines: exit codes and messages for bad input, and a full tiny run with --until-step/--resume."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from training import train_autoencoder, train_diffusion
from training.trainers.checkpoint import load_checkpoint


def test_off_grid_manifest_fails_with_the_preprocess_hint(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nib.save(nib.Nifti1Image(np.zeros((20, 20, 20), np.float32), np.eye(4)), tmp_path / "a.nii.gz")
    with open(tmp_path / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject_id", "image", "modality", "age", "sex", "tissue_map", "lesion_mask", "dataset", "caption", "split"])
        writer.writerow(["a", "a.nii.gz", "T1", "40", "F", "", "", "mine", "", "train"])
    with caplog.at_level(logging.ERROR):
        code = train_autoencoder.main(["--config", "tiny", "--manifest", str(tmp_path / "manifest.csv"),
                                       "--out", str(tmp_path / "run"), "--device", "cpu", "--threads", "1"])
    assert code == 2
    assert "python -m training.data.preprocess" in caplog.text


def test_cli_until_step_then_resume(tmp_path: Path, tt_manifest: Path) -> None:
    args = ["--config", "tiny", "--manifest", str(tt_manifest), "--out", str(tmp_path / "ae"), "--device", "cpu",
            "--threads", "1", "--set", "autoencoder.preview_every=0"]
    assert train_autoencoder.main(args + ["--until-step", "2"]) == 0
    assert load_checkpoint(tmp_path / "ae" / "checkpoints" / "checkpoint_last.pt", "autoencoder")["step"] == 2
    assert not (tmp_path / "ae" / "final").exists()
    assert train_autoencoder.main(args) == 2  # a checkpoint exists: refuses to start over without --resume
    assert train_autoencoder.main(args + ["--resume"]) == 0
    assert (tmp_path / "ae" / "final" / "autoencoder.json").is_file()
    code = train_diffusion.main(["--config", "tiny", "--autoencoder", str(tmp_path / "ae"), "--out", str(tmp_path / "dm"),
                                 "--device", "cpu", "--threads", "1", "--set", "diffusion.preview_every=0",
                                 "--export-bundle", str(tmp_path / "bundle")])
    assert code == 0 and (tmp_path / "bundle" / "unet.safetensors").is_file()
    assert torch.get_num_threads() == 1
