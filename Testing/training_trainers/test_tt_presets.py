"""The base and large configs train one step of each stage at a tiny 32^3 grid (structure kept, sizes shrunk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from braingen3d.bundle import load_bundle
from braingen3d.core.geometry import mni_grid
from Testing.training_trainers.tt_helpers import write_sphere_cohort
from training.trainers.autoencoder import AutoencoderTrainer
from training.trainers.configs import load_config
from training.trainers.diffusion import DiffusionTrainer
from training.trainers.distributed import DistEnv
from training.trainers.export import export_bundle

pytestmark = pytest.mark.slow

SMALL_GRID = ['grid={"shape": [32, 32, 32], "spacing": 4.0}', "autoencoder.patch_size=[32, 32, 32]",
              "autoencoder.max_steps=1", "diffusion.max_steps=1", "autoencoder.batch_size=1", "diffusion.batch_size=2",
              "autoencoder.preview_every=0", "diffusion.preview_every=0", "autoencoder.eval_subjects=1",
              "autoencoder.adv_start_step=0"]
# large keeps 4 autoencoder levels, 2 residual blocks and attention on the two deepest U-Net levels,
# with fewer channels (the real U-Net has 525M parameters).
SHRINK = {
    "base": [],
    "large": ['architecture={"autoencoder": {"channels": [16, 16, 32, 32], "norm_num_groups": 8}, '
              '"unet": {"channels": [32, 64, 96], "num_head_channels": [0, 32, 48], "norm_num_groups": 16}}',
              "autoencoder.disc_channels=8"],
}


@pytest.mark.parametrize("name", ["base", "large"])
def test_preset_trains_one_step_per_stage_and_exports(name: str, tmp_path: Path) -> None:
    config = load_config(name, SMALL_GRID + SHRINK[name])
    assert config.bundle_config().grid.shape == (32, 32, 32)
    manifest = write_sphere_cohort(tmp_path / "data", mni_grid((32, 32, 32), 4.0), subjects=3, held_out=1)
    ae = AutoencoderTrainer(config, manifest, tmp_path / "ae", DistEnv())
    assert ae.fit() == 1
    ae.close()
    diffusion = DiffusionTrainer(config, tmp_path / "ae", tmp_path / "diffusion", DistEnv())
    assert diffusion.fit() == 1
    diffusion.close()
    bundle = load_bundle(export_bundle(tmp_path / "ae", tmp_path / "diffusion", tmp_path / "bundle"))
    assert bundle.config.latent_shape == config.bundle_config().latent_shape
    levels = len(bundle.config.autoencoder["channels"])
    assert levels == (4 if name == "large" else 3)
    assert bundle.config.unet["num_res_blocks"] == (2 if name == "large" else 1)
