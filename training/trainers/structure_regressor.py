"""Trains the noise-aware structure-volume regressor that steers sampling (structure guidance).

Each sample is a cached training latent ``z = mu * scale_factor`` noised to a uniform timestep
``t``; the target is the subject's measured structure volumes (manifest columns, ml), standardised
by their training mean and SD. A share of the training subjects (all of their modalities) is held
out, and the finished run reports R² and RMSE in ml on them at several timesteps.

The text U-Net of the small bundle does not learn the ventricle words or the age trend of the
ventricles from 240 template anatomies in its budget; this regressor gives
sampling that control through classifier guidance (``braingen3d.sampling.structure_guidance``).

Outputs in the run folder: ``checkpoints/``, ``tensorboard/`` and ``final/structure_regressor.safetensors``
+ ``final/structure_regressor.json`` (written last: the stage is complete).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from braingen3d.models.builders import count_parameters
from braingen3d.models.structure_regressor import NoisyLatentVolumeRegressor
from braingen3d.sampling.schedulers import make_training_scheduler

from .configs import TrainingConfig, TrainingConfigError
from .diffusion import open_latent_cache, read_stage_record, write_stage_outputs
from .distributed import DistEnv, barrier
from .ema import EMA
from .latents import LatentCache
from .loop import Trainer
from .sampler import ShardedSampler
from .schedule import warmup_cosine

logger = logging.getLogger(__name__)

REGRESSOR_WEIGHTS = "structure_regressor.safetensors"
FINAL_RECORD = "structure_regressor.json"
VALIDATION_TIMESTEPS = (0, 200, 400, 600, 800)


def held_out_subjects(subjects: list[str], fraction: float, seed: int) -> set[str]:
    """A seeded share of the distinct subject ids (at least one)."""
    unique = sorted(set(subjects))
    count = max(1, int(round(fraction * len(unique))))
    order = np.random.default_rng(seed).permutation(len(unique))
    return {unique[i] for i in order[:count]}


def held_out_split(latents: LatentCache, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(training rows, held-out rows)`` of the cache's training split: a seeded share of its subjects
    (all of their modalities) is held out."""
    rows = latents.indices("train")
    subjects = [latents.rows[int(i)].get("subject_id", str(i)) for i in rows]
    held_out = held_out_subjects(subjects, fraction, seed)
    return (np.array([r for r, s in zip(rows, subjects) if s not in held_out], dtype=np.int64),
            np.array([r for r, s in zip(rows, subjects) if s in held_out], dtype=np.int64))


def structure_values(rows: list[dict[str, str]], structures: list[str]) -> np.ndarray:
    """``(N, S)`` volumes from the manifest rows; a missing column names the fix."""
    values = np.zeros((len(rows), len(structures)), dtype=np.float32)
    for i, row in enumerate(rows):
        for j, name in enumerate(structures):
            try:
                values[i, j] = float(row[name])
            except (KeyError, TypeError, ValueError) as exc:
                raise TrainingConfigError(
                    f"Manifest row {row.get('subject_id', i)!r} has no numeric {name!r}. The structure regressor needs "
                    f"the volumes the caption builder measures; run python -m training.captions.fit_norms on the manifest."
                ) from exc
    return values


class StructureRegressorTrainer(Trainer):
    """Fits ``NoisyLatentVolumeRegressor`` on the autoencoder run's cached latents.

    Args:
        config: the training config (``config.structure_regressor`` holds the hyper-parameters).
        autoencoder_dir: a finished autoencoder run (its ``final/`` and ``latents/`` folders).
        out_dir: the run folder.
        env: the distributed environment (one process: this stage takes minutes).
        resume: continue from the run folder's last checkpoint.
    """

    kind = "structure_regressor"
    network_name = "regressor"

    def __init__(self, config: TrainingConfig, autoencoder_dir: str | Path, out_dir: str | Path, env: DistEnv,
                 resume: bool = False) -> None:
        cfg = config.structure_regressor
        if env.distributed:
            raise TrainingConfigError("Train the structure regressor in one process (it takes minutes); run it without torchrun.")
        super().__init__(config, cfg, out_dir, env, resume)
        self.autoencoder_dir = Path(autoencoder_dir).resolve()
        self.latents = open_latent_cache(self.autoencoder_dir)
        self.train_rows, self.validation_rows = held_out_split(self.latents, cfg.validation_fraction, cfg.seed)
        if self.train_rows.size == 0:
            raise TrainingConfigError("The latent cache holds too few training subjects for a held-out share.")
        values = structure_values(self.latents.rows, list(cfg.structures))
        self.mean = values[self.train_rows].mean(0)
        self.std = values[self.train_rows].std(0) + 1e-6
        self.targets = torch.from_numpy((values - self.mean) / self.std)
        self.bundle_config = config.bundle_config()
        self.noise_scheduler = make_training_scheduler(self.bundle_config.noise_scheduler)
        torch.manual_seed(cfg.seed)
        self.regressor = NoisyLatentVolumeRegressor(int(self.latents.mu.shape[1]), cfg.channels, len(cfg.structures)).to(self.device)
        name = self.network_name
        self.modules[name] = self.regressor
        self.emas[name] = EMA(self.regressor, cfg.ema_decay)
        self.optimizers[name] = torch.optim.AdamW(self.regressor.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.schedulers[name] = warmup_cosine(self.optimizers[name], cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio)
        self.sampler = ShardedSampler(len(self.train_rows), cfg.seed, env.rank, env.world_size)
        self._start()
        logger.info("Structure regressor: %.2fM parameters; %d training and %d held-out latents; structures %s.",
                    count_parameters(self.regressor) / 1e6, len(self.train_rows), len(self.validation_rows), cfg.structures)

    def noisy_batch(self, rows: np.ndarray, timesteps: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        latents = self.latents.mu[torch.from_numpy(rows)] * self.latents.scale_factor
        noise = torch.randn(latents.shape, generator=generator)
        return self.noise_scheduler.add_noise(latents, noise, timesteps)

    def highest_timestep(self) -> int:
        """The highest timestep this step trains on: it grows over the curriculum, then stays at the last one."""
        last = int(self.noise_scheduler.config.num_train_timesteps) - 1
        cfg = self.section
        if cfg.curriculum_steps <= 0 or self.step >= cfg.curriculum_steps:
            return last
        start = min(max(int(cfg.curriculum_start_timestep), 0), last)
        return int(round(start + (last - start) * self.step / cfg.curriculum_steps))

    def train_step(self) -> dict[str, float]:
        cfg = self.section
        self.regressor.train()
        total = 0.0
        for _ in range(cfg.grad_accum):
            rows = self.train_rows[self.sampler.next_indices(cfg.batch_size)]
            timesteps = torch.randint(0, self.highest_timestep() + 1, (len(rows),), generator=self.generator)
            noisy = self.noisy_batch(rows, timesteps, self.generator)
            prediction = self.regressor(noisy.to(self.device), timesteps.to(self.device))
            loss = F.mse_loss(prediction.float(), self.targets[torch.from_numpy(rows)].to(self.device))
            (loss / cfg.grad_accum).backward()
            total += float(loss.detach()) / cfg.grad_accum
        self.optimizer_step(self.network_name, self.regressor)
        self.emas[self.network_name].update(self.regressor)
        return {"loss": total}

    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """R² and RMSE (ml) of the EMA regressor on the held-out subjects, per timestep and structure."""
        network = self.emas[self.network_name].shadow.eval()
        generator = torch.Generator("cpu").manual_seed(1234)
        truth = self.targets[torch.from_numpy(self.validation_rows)]
        report: dict[str, Any] = {}
        for t in VALIDATION_TIMESTEPS:
            timesteps = torch.full((len(self.validation_rows),), t)
            prediction = network(self.noisy_batch(self.validation_rows, timesteps, generator).to(self.device),
                                 timesteps.to(self.device)).float().cpu()
            error = (prediction - truth).pow(2).mean(0)
            # R² is undefined when the held-out volumes do not vary (e.g. one held-out subject).
            spread = truth.var(dim=0, correction=0)
            report[str(t)] = {name: {"r2": float(1 - error[j] / spread[j]) if spread[j] > 1e-8 else None,
                                     "rmse_ml": float(error[j].sqrt() * self.std[j])}
                              for j, name in enumerate(self.section.structures)}
        return report

    def finish(self) -> None:
        if self.env.is_main:
            write_regressor_outputs(self)
        barrier(self.env)


def write_regressor_outputs(trainer: StructureRegressorTrainer) -> dict[str, Any]:
    """``final/structure_regressor.safetensors`` (EMA) and ``final/structure_regressor.json`` (written last)."""
    cfg = trainer.section
    validation = trainer.validate()
    logger.info("Structure regressor, held out at t=0: %s", validation["0"])
    return write_stage_outputs(trainer, REGRESSOR_WEIGHTS, FINAL_RECORD, {
        "autoencoder_sha256": trainer.latents.autoencoder_sha256,
        "guidance": {
            "structures": list(cfg.structures),
            "output_mean": [float(v) for v in trainer.mean],
            "output_std": [float(v) for v in trainer.std],
            "regressor": {"channels": list(cfg.channels)},
            "norms": structure_norms(trainer),
            "guidance_scale": cfg.guidance_scale,
            "likelihood_sd": cfg.likelihood_sd,
            "enlarged_z": cfg.enlarged_z,
            "smoothing_voxels": cfg.smoothing_voxels,
            "max_guided_timestep": cfg.max_guided_timestep,
            "min_guided_timestep": cfg.min_guided_timestep,
        },
        "validation": {"subjects": int(len({trainer.latents.rows[int(r)].get("subject_id") for r in trainer.validation_rows})),
                       "latents": int(len(trainer.validation_rows)), "by_timestep": validation},
    }, "Structure regressor")


def structure_norms(trainer: StructureRegressorTrainer) -> dict[str, dict[str, Any]]:
    """The norms the guidance targets come from: the cohort's ``norms.json`` next to the manifest, or, for
    structures it lacks, norms fitted here on the regressor's training subjects (one record per subject)."""
    from training.captions.norms import fit_structure_norm

    norms_path = Path(trainer.latents.manifest).parent / "norms.json"
    saved = json.loads(norms_path.read_text(encoding="utf-8"))["structures"] if norms_path.is_file() else {}
    subjects = {trainer.latents.rows[int(r)].get("subject_id", str(r)): trainer.latents.rows[int(r)] for r in trainer.train_rows}
    norms = {}
    for name in trainer.section.structures:
        if name in saved:
            norms[name] = saved[name]
        else:
            logger.info("No norm for %s in %s; fitting one on the %d training subjects.", name, norms_path, len(subjects))
            norms[name] = vars(fit_structure_norm(subjects.values(), name))
    return norms


def read_regressor_record(out_dir: str | Path) -> dict[str, Any] | None:
    return read_stage_record(out_dir, FINAL_RECORD)
