"""Tiny autoencoder + diffusion runs export a bundle that the engine loads and generates from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from braingen3d.pipelines.generation import BrainGenPipeline
from training.cohort.generate import DATASET_NAME
from training.trainers.export import _population_statement, export_bundle
from training.trainers.latents import LatentCache


def test_exported_bundle_loads_and_generates(tmp_path: Path, tt_autoencoder_run: Path, tt_diffusion_run: Path) -> None:
    bundle_dir = export_bundle(tt_autoencoder_run, tt_diffusion_run, tmp_path / "bundle", version="0.0.1")
    config = json.loads((bundle_dir / "config.json").read_text())
    latents = LatentCache(tt_autoencoder_run / "latents")
    assert config["autoencoder"]["scale_factor"] == pytest.approx(latents.scale_factor)
    # scale_factor is 1 / std of posterior samples z = mu + sigma * eps over the training latents (seed 0).
    eps = torch.randn(latents.mu.shape, generator=torch.Generator().manual_seed(0))
    assert latents.scale_factor == pytest.approx(1.0 / float((latents.mu + latents.sigma * eps).std()), rel=1e-5)
    assert len(latents.rows) == 6 and all(row["split"] == "train" for row in latents.rows)
    assert config["training"]["diffusion"]["steps"] == 4
    assert config["training"]["autoencoder"]["steps"] == 4
    assert config["training"]["data"]["training_volumes"] == 6
    assert set(config["training"]["autoencoder"]["held_out_reconstruction"]) >= {"ssim", "psnr"}
    assert config["modalities"] == ["T1", "T2"]
    card = (bundle_dir / "README.md").read_text()
    assert "Not yet measured" in card and "synthetic" in card.lower()
    assert "- Lesion inpainting: RePaint with the text U-Net." in card  # a text bundle offers RePaint only
    assert "not of real patients" not in card  # the "spheres" dataset is not the template cohort
    assert "not of real patients" in _population_statement([DATASET_NAME])

    # The bundle holds the EMA weights of both stages.
    exported = load_file(str(bundle_dir / "unet.safetensors"))
    trained = load_file(str(tt_diffusion_run / "final" / "unet.safetensors"))
    assert all(np.array_equal(exported[k].numpy(), trained[k].numpy()) for k in trained)

    pipeline = BrainGenPipeline.from_bundle(bundle_dir, "cpu")
    output = pipeline("T1 MRI of a 40-year-old female", num_inference_steps=2, seed=3)
    volume = output.volumes[0]
    assert volume.array.shape == (16, 16, 16)
    assert np.isfinite(volume.array).all() and 0.0 <= volume.array.min() <= volume.array.max() <= 1.0
    assert volume.provenance["bundle_id"] == "braingen3d-tiny-test"


def test_runs_leave_logs_previews_and_records(tt_autoencoder_run: Path, tt_diffusion_run: Path) -> None:
    for run, preview in ((tt_autoencoder_run, "reconstruction"), (tt_diffusion_run, "sample")):
        assert list((run / "tensorboard").glob("events.out.tfevents.*"))
        assert (run / "previews" / f"{preview}_step0000002.png").is_file()
        assert (run / "previews" / f"{preview}_latest.png").is_file()
    record = json.loads((tt_autoencoder_run / "final" / "autoencoder.json").read_text())
    assert record["steps"] == 4 and 0.0 < record["autoencoder"]["scale_factor"]
    assert -1.0 <= record["held_out"]["ssim"] <= 1.0 and record["held_out"]["subjects"] == 2
    diffusion = json.loads((tt_diffusion_run / "final" / "diffusion.json").read_text())
    assert diffusion["prediction_type"] == "v_prediction" and diffusion["final_losses"]["loss"] > 0


def test_export_refuses_unfinished_runs(tmp_path: Path, tt_autoencoder_run: Path) -> None:
    with pytest.raises(FileNotFoundError, match="finished runs"):
        export_bundle(tt_autoencoder_run, tmp_path / "no-diffusion", tmp_path / "bundle")
