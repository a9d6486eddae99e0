"""The diffusion trainer's loss weighting and prediction types, end to end on the tiny config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from braingen3d.pipelines.generation import BrainGenPipeline
from Testing.training_trainers.trainer_steps import first_diffusion_step
from training.trainers.configs import load_config
from training.trainers.diffusion import DiffusionTrainer
from training.trainers.distributed import DistEnv
from training.trainers.export import export_bundle


def test_min_snr_floor_weights_the_same_first_step_more(tmp_path: Path, tt_autoencoder_run: Path) -> None:
    plain = first_diffusion_step([], tt_autoencoder_run, tmp_path / "plain")
    floored = first_diffusion_step(["diffusion.min_snr_floor=1.0"], tt_autoencoder_run, tmp_path / "floored")
    # Same seed: the same batch, noise, timesteps and initial weights, so the same unweighted error.
    assert floored["mse"] == pytest.approx(plain["mse"], rel=1e-5)
    assert floored["loss"] > 1.5 * plain["loss"]


def test_an_epsilon_run_exports_a_bundle_the_engine_samples(tmp_path: Path, tt_autoencoder_run: Path) -> None:
    config = load_config("tiny", ["architecture.noise_scheduler.prediction_type=epsilon"])
    trainer = DiffusionTrainer(config, tt_autoencoder_run, tmp_path / "diffusion", DistEnv())
    assert trainer.prediction_type == "epsilon"
    trainer.fit()
    trainer.close()
    record = json.loads((tmp_path / "diffusion" / "final" / "diffusion.json").read_text())
    assert record["prediction_type"] == "epsilon"
    bundle_dir = export_bundle(tt_autoencoder_run, tmp_path / "diffusion", tmp_path / "bundle")
    pipeline = BrainGenPipeline.from_bundle(bundle_dir, "cpu")
    assert pipeline.config.noise_scheduler["prediction_type"] == "epsilon"
    volume = pipeline("T1 MRI", num_inference_steps=2, seed=1).volumes[0].array
    assert volume.shape == tuple(pipeline.config.grid.shape) and np.isfinite(volume).all()
