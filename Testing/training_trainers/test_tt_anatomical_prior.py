"""Fine-tuning a diffusion run with an anatomical prior: the maps, --init-from, the export and the engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from braingen3d.bundle.weights import load_weights
from braingen3d.pipelines.generation import BrainGenPipeline
from Testing.training_trainers.trainer_steps import first_diffusion_step
from training.trainers.anatomical_prior import template_prior_maps
from training.trainers.configs import TrainingConfigError, load_config
from training.trainers.diffusion import DiffusionTrainer
from training.trainers.distributed import DistEnv
from training.trainers.export import export_bundle

ATTRIBUTES = ["architecture.unet.prompt_attributes=true"]
PRIOR = ATTRIBUTES + ['architecture.unet.anatomical_prior={"structures": ["ventricles"], "smoothing_voxels": 1.0}']
MAPS = "anatomical_prior.maps"


@pytest.mark.slow
def test_the_maps_sit_on_the_latent_grid_around_the_ventricles() -> None:
    config = load_config("small")
    grid = config.bundle_config().grid
    maps = template_prior_maps(grid, config.downsampling, ["ventricles"], 1.0)
    assert tuple(maps.shape) == (1, *(s // config.downsampling for s in grid.shape))
    assert float(maps.max()) == pytest.approx(1.0)
    peak = np.unravel_index(int(maps[0].argmax()), maps.shape[1:])
    centre = np.array(maps.shape[1:]) / 2
    assert np.all(np.abs(np.array(peak) - centre) <= np.array(maps.shape[1:]) * 0.25)  # deep in the brain
    with pytest.raises(TrainingConfigError, match="anatomical_prior.structures"):
        template_prior_maps(grid, config.downsampling, ["hippocampus"], 1.0)


@pytest.mark.slow
def test_a_run_fine_tuned_with_the_prior_exports_a_bundle_the_engine_samples(tmp_path: Path,
                                                                              tt_autoencoder_run: Path) -> None:
    base = DiffusionTrainer(load_config("tiny", ATTRIBUTES), tt_autoencoder_run, tmp_path / "base", DistEnv())
    base.fit()
    base.close()
    config = load_config("tiny", PRIOR + ["diffusion.anatomical_prior_lr_scale=10"])
    trainer = DiffusionTrainer(config, tt_autoencoder_run, tmp_path / "tuned", DistEnv(), init_from=tmp_path / "base")
    rest, prior = trainer.optimizers["unet"].param_groups
    assert prior["initial_lr"] == pytest.approx(10 * rest["initial_lr"]) and len(prior["params"]) == 2
    started = trainer.unet.state_dict()
    for key, tensor in load_weights(tmp_path / "base" / "final" / "unet.safetensors").items():
        torch.testing.assert_close(started[key], tensor)
    maps = started[MAPS]
    assert float(maps.max()) == pytest.approx(1.0)
    trainer.fit()
    trainer.close()
    record = json.loads((tmp_path / "tuned" / "final" / "diffusion.json").read_text())
    assert record["anatomical_prior"]["shape"] == list(maps.shape[1:])
    assert record["initialised_from"] == str((tmp_path / "base").resolve())
    pipeline = BrainGenPipeline.from_bundle(export_bundle(tt_autoencoder_run, tmp_path / "tuned", tmp_path / "bundle"), "cpu")
    assert pipeline.config.unet["anatomical_prior"]["structures"] == ["ventricles"]
    card = (tmp_path / "bundle" / "README.md").read_text()
    assert "where the template's ventricles lie" in card
    # The card counts the run it continued from: its row, then this one's, and both in the total.
    base_record = json.loads((tmp_path / "base" / "final" / "diffusion.json").read_text())
    earlier = pipeline.config.training["diffusion_initialisation"]
    assert [r["steps"] for r in earlier] == [base_record["steps"]] and earlier[0]["run"].endswith("base")
    assert card.index("| diffusion, earlier run `") < card.index("| diffusion, continued from the row above")
    total = sum(pipeline.config.training[k]["wall_seconds"] for k in ("autoencoder", "diffusion")) + earlier[0]["wall_seconds"]
    assert f"Total training wall time: {total / 3600:.2f} h." in card
    shutil.rmtree(tmp_path / "base")
    moved = export_bundle(tt_autoencoder_run, tmp_path / "tuned", tmp_path / "moved")
    assert "| diffusion, earlier run `" in (moved / "README.md").read_text() and "not found at export" in (
        moved / "README.md").read_text()
    torch.testing.assert_close(pipeline.bundle.unet.state_dict()[MAPS], maps)
    volume = pipeline("T1 MRI of a 80-year-old woman", num_inference_steps=2, seed=1).volumes[0].array
    assert volume.shape == tuple(pipeline.config.grid.shape) and np.isfinite(volume).all()

    # The inpainting U-Net fine-tuned from it keeps the prior, and the bundle with both inpaints.
    from braingen3d.pipelines.inpaint import LesionInpainter
    from Testing.inpaint.inpaint_phantoms import make_case
    from training.trainers.inpainting import InpaintingTrainer

    inpainting = InpaintingTrainer(config, tt_autoencoder_run, tmp_path / "tuned", tmp_path / "inpaint", DistEnv())
    inpainting.fit()
    inpainting.close()
    both = export_bundle(tt_autoencoder_run, tmp_path / "tuned", tmp_path / "both", inpainting_dir=tmp_path / "inpaint")
    inpainter = LesionInpainter.from_bundle(both, device="cpu")
    assert inpainter.pipeline.config.inpaint_unet["anatomical_prior"]["shape"] == list(maps.shape[1:])
    torch.testing.assert_close(inpainter.pipeline.bundle.inpaint_unet.state_dict()[MAPS], maps)
    case = make_case("oblique")
    result = inpainter(case.volume, case.affine, case.mask, "a white-matter lesion", num_inference_steps=2, seed=3,
                       method="inpaint_unet")
    assert result.provenance["method"] == "inpaint_unet" and np.isfinite(result.array).all()


def test_the_prior_loss_weight_adds_the_error_inside_the_maps(tmp_path: Path, tt_autoencoder_run: Path) -> None:
    plain = first_diffusion_step(PRIOR, tt_autoencoder_run, tmp_path / "plain")
    weighted = first_diffusion_step(PRIOR + ["diffusion.anatomical_prior_loss_weight=10"], tt_autoencoder_run, tmp_path / "weighted")
    # Same seed: the same batch, noise and initial weights, so the same unweighted error.
    assert weighted["mse"] == pytest.approx(plain["mse"], rel=1e-5)
    assert weighted["loss"] > 3 * plain["loss"]


def test_the_prior_waits_for_its_start_step(tmp_path: Path, tt_autoencoder_run: Path) -> None:
    plain = first_diffusion_step(PRIOR, tt_autoencoder_run, tmp_path / "plain")
    waiting = PRIOR + ["diffusion.anatomical_prior_loss_weight=10", "diffusion.anatomical_prior_start_step=2"]
    # Before the start step the loss term is off: the first step's loss is the plain one.
    assert first_diffusion_step(waiting, tt_autoencoder_run, tmp_path / "first")["loss"] == pytest.approx(plain["loss"],
                                                                                                            rel=1e-5)
    trainer = DiffusionTrainer(load_config("tiny", waiting + ["diffusion.anatomical_prior_lr_scale=100"]),
                               tt_autoencoder_run, tmp_path / "run", DistEnv())
    projection = {n: p for n, p in trainer.unet.named_parameters() if n.startswith("anatomical_prior.")}
    assert projection and all(float(p.detach().abs().max()) == 0 for p in projection.values())
    losses = []
    for _ in range(3):
        losses.append(trainer.train_step())
        trainer.step += 1
        started = trainer.step > 2
        assert any(float(p.detach().abs().max()) > 0 for p in projection.values()) == started, trainer.step
    trainer.close()
    assert losses[2]["loss"] > 3 * losses[2]["mse"]  # the loss term is on from step 2


def test_bad_prior_training_fields_are_refused() -> None:
    with pytest.raises(TrainingConfigError, match="diffusion.anatomical_prior_lr_scale' must be positive"):
        load_config("tiny", PRIOR + ["diffusion.anatomical_prior_lr_scale=0"])
    with pytest.raises(TrainingConfigError, match="diffusion.anatomical_prior_loss_weight' must be 0 or more"):
        load_config("tiny", PRIOR + ["diffusion.anatomical_prior_loss_weight=-1"])
    with pytest.raises(TrainingConfigError, match="anatomical_prior_loss_weight' needs an anatomical prior"):
        load_config("tiny", ATTRIBUTES + ["diffusion.anatomical_prior_loss_weight=1"])
    with pytest.raises(TrainingConfigError, match="anatomical_prior_start_step' needs an anatomical prior"):
        load_config("tiny", ATTRIBUTES + ["diffusion.anatomical_prior_start_step=1"])
    with pytest.raises(TrainingConfigError, match="anatomical_prior_start_step' must be 0 or more and below"):
        load_config("tiny", PRIOR + ["diffusion.anatomical_prior_start_step=4"])


def test_init_from_refuses_another_architecture(tmp_path: Path, tt_autoencoder_run: Path, tt_diffusion_run: Path) -> None:
    # tt_diffusion_run has no attribute MLP: more than the prior would start from scratch.
    with pytest.raises(TrainingConfigError, match="--init-from .* differs from this config's beyond an added anatomical prior"):
        DiffusionTrainer(load_config("tiny", PRIOR), tt_autoencoder_run, tmp_path / "tuned", DistEnv(),
                         init_from=tt_diffusion_run)
    with pytest.raises(TrainingConfigError, match="not a finished diffusion run"):
        DiffusionTrainer(load_config("tiny", PRIOR), tt_autoencoder_run, tmp_path / "other", DistEnv(),
                         init_from=tmp_path / "nowhere")
