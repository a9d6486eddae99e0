"""Fixtures for the trainer tests: a tiny sphere cohort (with lesions) and finished tiny autoencoder, diffusion
and inpainting runs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch

from braingen3d.bundle import preset_config


@contextlib.contextmanager
def single_thread():
    """One torch thread: the tiny networks here are dominated by thread synchronisation, which is very
    slow when the CPU is shared. The previous setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="module")
def _tt_single_thread():
    with single_thread():
        yield


@pytest.fixture(scope="session")
def tt_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from Testing.training_trainers.tt_helpers import write_sphere_cohort

    return write_sphere_cohort(tmp_path_factory.mktemp("tt_cohort"), preset_config("tiny").grid,
                               caption_first="a sphere with an override caption", lesions=True)


@pytest.fixture(scope="session")
def tt_autoencoder_run(tmp_path_factory: pytest.TempPathFactory, tt_manifest: Path) -> Path:
    """A finished tiny autoencoder run (4 steps, discriminator from step 1), latents encoded."""
    from training.trainers.autoencoder import AutoencoderTrainer
    from training.trainers.configs import load_config
    from training.trainers.distributed import DistEnv

    out = tmp_path_factory.mktemp("tt_runs") / "autoencoder"
    with single_thread():  # session fixtures are set up before the module-scoped thread setting
        trainer = AutoencoderTrainer(load_config("tiny"), tt_manifest, out, DistEnv())
        trainer.fit()
        trainer.close()
    return out


@pytest.fixture(scope="session")
def tt_diffusion_run(tmp_path_factory: pytest.TempPathFactory, tt_autoencoder_run: Path) -> Path:
    """A finished tiny diffusion run (4 steps) on the tiny autoencoder's latents."""
    from training.trainers.configs import load_config
    from training.trainers.diffusion import DiffusionTrainer
    from training.trainers.distributed import DistEnv

    out = tmp_path_factory.mktemp("tt_runs") / "diffusion"
    with single_thread():
        trainer = DiffusionTrainer(load_config("tiny"), tt_autoencoder_run, out, DistEnv())
        trainer.fit()
        trainer.close()
    return out


@pytest.fixture(scope="session")
def tt_inpainting_run(tmp_path_factory: pytest.TempPathFactory, tt_autoencoder_run: Path, tt_diffusion_run: Path) -> Path:
    """A finished tiny inpainting fine-tune (4 steps) from the tiny diffusion run."""
    from training.trainers.configs import load_config
    from training.trainers.distributed import DistEnv
    from training.trainers.inpainting import InpaintingTrainer

    out = tmp_path_factory.mktemp("tt_runs") / "inpainting"
    with single_thread():
        trainer = InpaintingTrainer(load_config("tiny"), tt_autoencoder_run, tt_diffusion_run, out, DistEnv())
        trainer.fit()
        trainer.close()
    return out
