"""Stages that start from a finished diffusion run: the inpainting U-Net and the ControlNet.

They share what ties them to that run: it must be finished, its U-Net's digest is recorded, a
resume refuses a changed U-Net, and the stage's final record names the run it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .autoencoder import final_dir
from .configs import TrainingConfig, TrainingConfigError
from .diffusion import FINAL_RECORD as DIFFUSION_RECORD
from .diffusion import UNET_WEIGHTS, DiffusionTrainer, write_stage_outputs
from .distributed import DistEnv, barrier
from .latents import file_digest


def diffusion_unet_digest(diffusion_dir: str | Path) -> str:
    """SHA-256 of a finished diffusion run's EMA U-Net weights."""
    return file_digest(final_dir(diffusion_dir) / UNET_WEIGHTS)


class DiffusionFineTuneTrainer(DiffusionTrainer):
    """A trainer whose network starts from, or steers, a finished diffusion run's U-Net.

    Subclasses set ``kind``, ``section_name``, ``network_name``, ``stage_label`` (for messages),
    ``weights_name`` and ``record_name`` (the final outputs), and extend ``record_fields``.

    Args:
        config: the training config.
        autoencoder_dir: the finished autoencoder run (latent cache and weights).
        diffusion_dir: the finished diffusion run.
        out_dir: the run folder.
        env: the distributed environment.
        resume: continue from the run folder's last checkpoint.
    """

    stage_label = "fine-tune"
    weights_name = ""
    record_name = ""

    def __init__(self, config: TrainingConfig, autoencoder_dir: str | Path, diffusion_dir: str | Path,
                 out_dir: str | Path, env: DistEnv, resume: bool = False) -> None:
        self.diffusion_dir = Path(diffusion_dir).resolve()
        if not (final_dir(self.diffusion_dir) / DIFFUSION_RECORD).is_file():
            raise FileNotFoundError(
                f"{self.diffusion_dir} is not a finished diffusion run (no final/{DIFFUSION_RECORD}). "
                "Train it first: python -m training.train_diffusion --out " + str(self.diffusion_dir)
            )
        self.diffusion_sha256 = diffusion_unet_digest(self.diffusion_dir)
        super().__init__(config, autoencoder_dir, out_dir, env, resume)
        started_from = self.resumed_meta.get("diffusion_sha256")
        if started_from is not None and started_from != self.diffusion_sha256:
            self._release_lock()
            raise TrainingConfigError(
                f"The diffusion run {self.diffusion_dir} changed since the {self.stage_label} run {self.out_dir} started "
                f"from it. Start a new {self.stage_label} run (another --out, or move this one aside)."
            )

    def run_metadata(self) -> dict[str, Any]:
        return {**super().run_metadata(), "diffusion_dir": str(self.diffusion_dir), "diffusion_sha256": self.diffusion_sha256}

    def record_fields(self) -> dict[str, Any]:
        """What the final record says besides steps, time and losses (subclasses add their network's field)."""
        return {
            "diffusion_dir": str(self.diffusion_dir),
            "diffusion_sha256": self.diffusion_sha256,
            "autoencoder_sha256": self.latents.autoencoder_sha256,
        }

    def finish(self) -> None:
        """Write the EMA network and the stage record (main process)."""
        if self.env.is_main:
            write_stage_outputs(self, self.weights_name, self.record_name, self.record_fields(), self.stage_label)
        barrier(self.env)
