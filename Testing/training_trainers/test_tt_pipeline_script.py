"""training/run_default_training.sh: it never moves or discards a run it cannot check, runs the prior
refinement only for configs with a prior, and exports again when a stage is newer than the bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "training" / "run_default_training.sh"


def _run(tmp_path: Path, python: str, config: str = "small") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=python, RUN=str(tmp_path / "run"), COHORT=str(tmp_path / "cohort"),
               SKIP_QUALITY_GATE="1", CONFIG=config)
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


def _finished_stages(tmp_path: Path, *stages: str) -> None:
    """A cohort and finished runs of ``stages`` (each with its final record ``final/<stage>.json``)."""
    (tmp_path / "cohort").mkdir(exist_ok=True)
    (tmp_path / "cohort" / "manifest.csv").write_text("subject_id\n")
    for stage in stages:
        final = tmp_path / "run" / stage / "final"
        final.mkdir(parents=True)
        (final / f"{stage}.json").write_text(json.dumps({"steps": 10}))


def _recording_python(tmp_path: Path) -> tuple[str, Path]:
    """A python that records each trainer call (``-m training.*``) instead of running it, and runs the rest."""
    calls = tmp_path / "calls.log"
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-m" ]; then echo "$@" >> "{calls}"; exit 0; fi\nexec "{sys.executable}" "$@"\n')
    fake.chmod(0o755)
    return str(fake), calls


def _trainer_calls(tmp_path: Path, config: str) -> list[str]:
    """The trainer calls one run of the script makes (the calls log is emptied first)."""
    python, calls = _recording_python(tmp_path)
    calls.unlink(missing_ok=True)
    result = _run(tmp_path, python, config)
    assert result.returncode == 0, result.stdout + result.stderr
    return calls.read_text().splitlines() if calls.exists() else []


def test_a_config_with_an_anatomical_prior_refines_it_and_later_stages_use_the_refined_run(tmp_path: Path) -> None:
    _finished_stages(tmp_path, "autoencoder", "diffusion")
    calls = _trainer_calls(tmp_path, "small")
    run = tmp_path / "run"
    assert [c.split()[1] for c in calls] == ["training.train_diffusion", "training.train_inpainting",
                                             "training.train_structure_regressor"]
    refine = calls[0]
    assert f"--init-from {run / 'diffusion'} --out {run / 'diffusion_prior'}" in refine
    assert "diffusion.max_steps=400" in refine and "diffusion.anatomical_prior_start_step=0" in refine
    for later in calls[1:]:
        assert f"--diffusion {run / 'diffusion_prior'} " in later


def test_a_config_without_a_prior_goes_from_diffusion_straight_to_inpainting(tmp_path: Path) -> None:
    _finished_stages(tmp_path, "autoencoder", "diffusion")
    calls = _trainer_calls(tmp_path, "tiny")
    run = tmp_path / "run"
    assert [c.split()[1] for c in calls] == ["training.train_inpainting", "training.train_structure_regressor"]
    for later in calls:
        assert f"--diffusion {run / 'diffusion'} " in later


def test_the_bundle_is_exported_again_when_a_stage_it_holds_is_newer(tmp_path: Path) -> None:
    _finished_stages(tmp_path, "autoencoder", "diffusion", "inpainting", "structure_regressor")
    run = tmp_path / "run"
    (run / "bundle").mkdir()
    weights = run / "bundle" / "structure_regressor.safetensors"
    weights.write_bytes(b"weights")
    newer = weights.stat().st_mtime + 10
    for record in run.glob("*/final/*.json"):
        os.utime(record, (newer - 20, newer - 20))
    os.utime(weights, (newer, newer))
    assert _trainer_calls(tmp_path, "tiny") == []  # every stage complete and the bundle newer than all of them
    os.utime(run / "inpainting" / "final" / "inpainting.json", (newer + 10, newer + 10))  # e.g. INPAINT_MAX_STEPS
    exported = _trainer_calls(tmp_path, "tiny")
    assert len(exported) == 1 and "training.train_structure_regressor" in exported[0] and "--export-only" in exported[0]


def test_a_decoder_config_trains_the_decoder_after_the_unets_and_the_export_ships_it(tmp_path: Path) -> None:
    _finished_stages(tmp_path, "autoencoder", "diffusion", "inpainting")
    python, calls_log = _recording_python(tmp_path)
    env = dict(os.environ, PYTHON=python, RUN=str(tmp_path / "run"), COHORT=str(tmp_path / "cohort"),
               SKIP_QUALITY_GATE="1", CONFIG="tiny", DECODER_CONFIG="tiny")
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = calls_log.read_text().splitlines()
    run = tmp_path / "run"
    assert [c.split()[1] for c in calls] == ["training.train_autoencoder", "training.train_structure_regressor"]
    assert f"--config tiny --manifest {tmp_path / 'cohort' / 'manifest.csv'} --out {run / 'decoder'}" in calls[0]
    assert f"--decoder {run / 'decoder'}" in calls[1]
    # Without DECODER_CONFIG nothing of the decoder stage runs.
    calls_log.unlink()
    result = _run(tmp_path, python, "tiny")
    assert result.returncode == 0
    assert all("--decoder" not in c and "train_autoencoder" not in c for c in calls_log.read_text().splitlines())
