"""Helpers shared by the trainer tests."""

from __future__ import annotations

from pathlib import Path

from training.trainers.configs import load_config
from training.trainers.diffusion import DiffusionTrainer
from training.trainers.distributed import DistEnv


def first_diffusion_step(overrides: list[str], autoencoder_run: Path, out: Path) -> dict[str, float]:
    """The logs of the first training step of a fresh tiny diffusion run with ``overrides``."""
    trainer = DiffusionTrainer(load_config("tiny", overrides), autoencoder_run, out, DistEnv())
    try:
        return trainer.train_step()
    finally:
        trainer.close()
