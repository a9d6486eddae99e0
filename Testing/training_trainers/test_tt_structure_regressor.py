"""The structure-regressor trainer: held-out subjects, fitted norms, exact resume, and a bundle with structure guidance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from braingen3d.bundle import load_bundle
from braingen3d.pipelines.generation import BrainGenPipeline
from training.trainers.configs import TrainingConfigError, load_config
from training.trainers.distributed import DistEnv
from training.trainers.export import export_bundle
from training.trainers.structure_regressor import StructureRegressorTrainer, held_out_subjects


@pytest.fixture(scope="module")
def regressor_run(tmp_path_factory: pytest.TempPathFactory, tt_autoencoder_run: Path):
    out = tmp_path_factory.mktemp("tt_runs") / "structure_regressor"
    trainer = StructureRegressorTrainer(load_config("tiny"), tt_autoencoder_run, out, DistEnv())
    start = {k: v.clone() for k, v in trainer.regressor.state_dict().items()}
    trainer.fit()
    trainer.close()
    return out, trainer, start


def test_held_out_subjects_are_whole_subjects_and_seeded() -> None:
    subjects = ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"]
    chosen = held_out_subjects(subjects, 0.2, seed=0)
    assert len(chosen) == 1 and chosen == held_out_subjects(subjects, 0.2, seed=0)
    assert held_out_subjects(subjects, 0.01, seed=0)  # at least one


def test_regressor_trains_and_reports_held_out_error(regressor_run) -> None:
    out, trainer, start = regressor_run
    assert any(not torch.equal(v, start[k]) for k, v in trainer.regressor.state_dict().items())
    held_out = {trainer.latents.rows[int(r)]["subject_id"] for r in trainer.validation_rows}
    trained = {trainer.latents.rows[int(r)]["subject_id"] for r in trainer.train_rows}
    assert held_out and not held_out & trained
    record = json.loads((out / "final" / "structure_regressor.json").read_text())
    assert record["steps"] == 4
    assert set(record["validation"]["by_timestep"]) == {"0", "200", "400", "600", "800"}
    assert record["validation"]["by_timestep"]["0"]["ventricles_ml"]["rmse_ml"] > 0
    # The sphere cohort has no norms.json: the norm is fitted on the training subjects.
    norm = record["guidance"]["norms"]["ventricles_ml"]
    assert norm["n"] == len(trained) and norm["sd"] > 0


def test_resume_continues_to_the_same_weights(tmp_path: Path, tt_autoencoder_run: Path, regressor_run) -> None:
    _, finished, _ = regressor_run
    out = tmp_path / "resumed"
    first = StructureRegressorTrainer(load_config("tiny"), tt_autoencoder_run, out, DistEnv())
    first.fit(until_step=2)
    first.close()
    second = StructureRegressorTrainer(load_config("tiny"), tt_autoencoder_run, out, DistEnv(), resume=True)
    assert second.step == 2
    second.fit()
    second.close()
    for key, value in finished.regressor.state_dict().items():
        assert torch.allclose(second.regressor.state_dict()[key], value, atol=1e-6), key


def test_timestep_curriculum_widens_the_noise_range(tmp_path: Path, tt_autoencoder_run: Path) -> None:
    config = load_config("tiny", ["structure_regressor.curriculum_steps=4", "structure_regressor.curriculum_start_timestep=100"])
    trainer = StructureRegressorTrainer(config, tt_autoencoder_run, tmp_path / "r", DistEnv())
    seen: list[int] = []
    trainer.regressor.register_forward_pre_hook(lambda module, args: seen.append(int(args[1].max())))
    highest = []
    for step in range(6):
        trainer.step = step
        highest.append(trainer.highest_timestep())
        seen.clear()
        trainer.train_step()
        assert max(seen) <= highest[-1]
    trainer.close()
    assert highest == [100, 325, 550, 774, 999, 999]
    without = StructureRegressorTrainer(load_config("tiny"), tt_autoencoder_run, tmp_path / "plain", DistEnv())
    assert without.highest_timestep() == 999
    without.close()


def test_missing_volume_column_names_the_fix(tmp_path: Path, tt_autoencoder_run: Path) -> None:
    config = load_config("tiny", ['structure_regressor.structures=["gm_ml"]'])
    with pytest.raises(TrainingConfigError, match="no numeric 'gm_ml'"):
        StructureRegressorTrainer(config, tt_autoencoder_run, tmp_path / "r", DistEnv())


def test_exported_bundle_guides_generation(tmp_path: Path, tt_autoencoder_run: Path, tt_diffusion_run: Path,
                                           regressor_run) -> None:
    out, _, _ = regressor_run
    path = export_bundle(tt_autoencoder_run, tt_diffusion_run, tmp_path / "bundle", structure_regressor_dir=out)
    bundle = load_bundle(path)
    assert bundle.config.capabilities["structure_guidance"] is True
    assert bundle.structure_regressor is not None
    assert "Structure guidance" in bundle.card and "Total training wall time" in bundle.card
    pipeline = BrainGenPipeline.from_bundle(path, "cpu")
    output = pipeline("T1 MRI of a 70-year-old woman with enlarged ventricles", num_inference_steps=2, seed=0)
    assert "ventricles_ml" in output.volumes[0].provenance["structure_targets_ml"]


def test_export_takes_the_default_guidance_weight_from_the_config(tmp_path: Path, tt_autoencoder_run: Path,
                                                                   tt_diffusion_run: Path, regressor_run) -> None:
    from training import train_structure_regressor

    out, _, _ = regressor_run
    assert json.loads((out / "final" / "structure_regressor.json").read_text())["guidance"]["guidance_scale"] > 0
    assert train_structure_regressor.main([
        "--config", "tiny", "--set", "structure_regressor.guidance_scale=0", "--autoencoder", str(tt_autoencoder_run),
        "--diffusion", str(tt_diffusion_run), "--out", str(out), "--export-only", "--export-bundle", str(tmp_path / "b"),
    ]) == 0
    bundle = load_bundle(tmp_path / "b")
    assert bundle.config.structure_guidance["guidance_scale"] == 0.0
    assert bundle.structure_regressor is not None and "off by default" in bundle.card
    pipeline = BrainGenPipeline.from_bundle(tmp_path / "b", "cpu")
    prompt = "T1 MRI of a 70-year-old woman with enlarged ventricles"
    assert pipeline.make_structure_guidance(prompt) is None
    assert pipeline.make_structure_guidance(prompt, scale=3.0) is not None
