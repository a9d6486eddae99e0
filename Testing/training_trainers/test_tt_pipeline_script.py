"""training/run_default_training.sh never moves or discards a run when it cannot check it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "training" / "run_default_training.sh"


def _run(tmp_path: Path, python: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=python, RUN=str(tmp_path / "run"), COHORT=str(tmp_path / "cohort"),
               SKIP_QUALITY_GATE="1")
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)


def _completed_autoencoder_and_started_diffusion(tmp_path: Path) -> Path:
    (tmp_path / "cohort").mkdir()
    (tmp_path / "cohort" / "manifest.csv").write_text("subject_id\n")
    final = tmp_path / "run" / "autoencoder" / "final"
    final.mkdir(parents=True)
    (final / "autoencoder.json").write_text(json.dumps({"steps": 10}))
    latents = tmp_path / "run" / "autoencoder" / "latents"
    latents.mkdir()
    (latents / "index.json").write_text(json.dumps({"autoencoder_sha256": "abc"}))
    checkpoints = tmp_path / "run" / "diffusion" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "checkpoint_last.pt").write_bytes(b"not a checkpoint")
    return checkpoints


def test_a_python_without_torch_stops_before_any_stage(tmp_path: Path) -> None:
    checkpoints = _completed_autoencoder_and_started_diffusion(tmp_path)
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\nexit 1\n")
    fake_python.chmod(0o755)
    result = _run(tmp_path, str(fake_python))
    assert result.returncode == 2
    assert "cannot import torch" in result.stdout
    assert (checkpoints / "checkpoint_last.pt").read_bytes() == b"not a checkpoint"


def test_an_unreadable_diffusion_checkpoint_is_left_in_place(tmp_path: Path) -> None:
    checkpoints = _completed_autoencoder_and_started_diffusion(tmp_path)
    result = _run(tmp_path, sys.executable)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "could not compare" in result.stdout
    assert (checkpoints / "checkpoint_last.pt").read_bytes() == b"not a checkpoint"
    assert not list((tmp_path / "run").glob("diffusion.stale-*"))
