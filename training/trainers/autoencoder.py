"""Autoencoder trainer: random brain-biased patches, L1 + SSIM + KL (+ patch adversarial).

When training reaches ``max_steps`` the EMA weights are evaluated on held-out subjects (SSIM and
PSNR inside the brain mask), every manifest row is encoded once into a latent cache, and
``scale_factor = 1 / std(latents)`` over the training split is stored with the final weights.

Outputs in the run folder: ``checkpoints/``, ``tensorboard/``, ``previews/``, ``latents/`` and
``final/autoencoder.safetensors`` + ``final/autoencoder.json`` (written last: the stage is complete).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.losses import PatchAdversarialLoss, SSIMLoss
from monai.networks.nets import PatchDiscriminator
from torch.nn.parallel import DistributedDataParallel

from braingen3d.bundle.weights import save_weights
from braingen3d.models.block_pca_autoencoder import BlockPCAAutoencoder, training_blocks
from braingen3d.models.builders import build_autoencoder, count_parameters

from .configs import TrainingConfig, TrainingConfigError
from .data import VolumeStore, extract_patch, random_patch_corner, read_manifest, spread_selection
from .distributed import DistEnv, barrier
from .ema import EMA
from .evaluation import evaluate_autoencoder, reconstruct
from .latents import encode_records, scale_factor_from, write_json_atomic, write_latent_cache
from .loop import Trainer
from .monitor import slice_panel
from .precision import autocast, make_grad_scaler
from .sampler import ShardedSampler
from .schedule import warmup_cosine

logger = logging.getLogger(__name__)

FINAL_DIR = "final"
FINAL_WEIGHTS = "autoencoder.safetensors"
FINAL_RECORD = "autoencoder.json"


def kl_divergence(z_mu: torch.Tensor, z_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) summed over latent voxels, averaged over the batch."""
    kl = 0.5 * (z_mu.pow(2) + z_sigma.pow(2) - torch.log(z_sigma.pow(2)) - 1.0)
    return kl.flatten(1).sum(1).mean()


def initialise_posterior_variance(autoencoder: torch.nn.Module, log_variance: float) -> None:
    """Start the posterior at ``sigma = exp(log_variance / 2)`` everywhere (zero weights, constant bias)."""
    conv = autoencoder.quant_conv_log_sigma.conv
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.fill_(log_variance)


def final_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / FINAL_DIR


def read_final_record(out_dir: str | Path) -> dict[str, Any] | None:
    """The completed autoencoder run's record, or None if the stage is not complete."""
    path = final_dir(out_dir) / FINAL_RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class AutoencoderTrainer(Trainer):
    """Trains the bundle preset's autoencoder: MONAI's ``AutoencoderKL``, or a ``BlockPCAAutoencoder`` whose
    fixed encoder is fitted on training blocks first and whose decoder correction is then trained.

    Args:
        config: the training config (``config.autoencoder`` holds the hyper-parameters).
        manifest: the cohort manifest CSV.
        out_dir: the run folder.
        env: the distributed environment (``setup_distributed``).
        resume: continue from the run folder's last checkpoint.
    """

    kind = "autoencoder"

    def __init__(self, config: TrainingConfig, manifest: str | Path, out_dir: str | Path, env: DistEnv,
                 resume: bool = False) -> None:
        super().__init__(config, config.autoencoder, out_dir, env, resume)
        cfg = config.autoencoder
        self.manifest = Path(manifest).resolve()
        self.bundle_config = config.bundle_config()
        grid = self.bundle_config.grid
        self.patch = tuple(int(p) for p in cfg.patch_size)
        self.store = VolumeStore(read_manifest(self.manifest, ("train",)), grid)
        held_out = read_manifest(self.manifest, ("val",)) or read_manifest(self.manifest, ("test",))
        if not held_out:
            logger.warning("The manifest has no 'val' or 'test' rows; evaluating on the last training rows (optimistic).")
            held_out = self.store.records[-max(1, cfg.eval_subjects):]
        self.eval_store = VolumeStore(spread_selection(held_out, cfg.eval_subjects), grid)

        torch.manual_seed(cfg.seed)
        on_cuda = self.device.type == "cuda"
        self.autoencoder = build_autoencoder({**self.bundle_config.autoencoder_kwargs, "use_checkpoint": on_cuda}).to(self.device)
        self.block_pca_fit: dict[str, Any] | None = None
        if isinstance(self.autoencoder, BlockPCAAutoencoder):
            self._fit_block_pca()
        else:
            self._set_up_posterior_variance()
        self.modules["autoencoder"] = self.autoencoder
        self.emas["autoencoder"] = EMA(self.autoencoder, cfg.ema_decay)
        trainable = [p for p in self.autoencoder.parameters() if p.requires_grad]
        self.optimizers["autoencoder"] = torch.optim.AdamW(trainable, lr=cfg.lr,
                                                           weight_decay=cfg.weight_decay)
        self.schedulers["autoencoder"] = warmup_cosine(self.optimizers["autoencoder"], cfg.warmup_steps,
                                                       cfg.max_steps, cfg.min_lr_ratio)
        self.scalers["autoencoder"] = make_grad_scaler(self.device)
        self.discriminator = None
        if cfg.adv_weight > 0:
            self.discriminator = PatchDiscriminator(spatial_dims=3, num_layers_d=cfg.disc_layers, channels=cfg.disc_channels,
                                                    in_channels=1, out_channels=1, norm="INSTANCE").to(self.device)
            self.modules["discriminator"] = self.discriminator
            self.optimizers["discriminator"] = torch.optim.AdamW(self.discriminator.parameters(), lr=cfg.disc_lr,
                                                                 weight_decay=cfg.weight_decay)
            self.scalers["discriminator"] = make_grad_scaler(self.device)
            self.adversarial_loss = PatchAdversarialLoss(criterion=cfg.adv_criterion)
        self.ssim_loss = SSIMLoss(spatial_dims=3, data_range=1.0, win_size=min(cfg.ssim_win_size, *self.patch))
        self.sampler = ShardedSampler(len(self.store), cfg.seed, env.rank, env.world_size)
        self.noise_generator = torch.Generator().manual_seed(cfg.seed + env.rank)
        self._start()

        self.ae_train: torch.nn.Module = self.autoencoder
        self.disc_train: torch.nn.Module | None = self.discriminator
        if env.distributed:
            ids = [self.device.index] if on_cuda else None
            self.ae_train = DistributedDataParallel(self.autoencoder, device_ids=ids)
            if self.discriminator is not None:
                self.disc_train = DistributedDataParallel(self.discriminator, device_ids=ids)
            self._sync_emas()
        if env.is_main:
            logger.info("Autoencoder: %.2fM parameters; %d training and %d held-out volumes; patch %s, batch %d x %d.",
                        count_parameters(self.autoencoder) / 1e6, len(self.store), len(self.eval_store), self.patch,
                        cfg.batch_size, cfg.grad_accum)

    def _set_up_posterior_variance(self) -> None:
        cfg = self.config.autoencoder
        if cfg.logvar_init is not None:
            initialise_posterior_variance(self.autoencoder, cfg.logvar_init)
        if not cfg.learn_posterior_variance:
            if cfg.logvar_init is None:
                raise TrainingConfigError("Config field 'autoencoder.learn_posterior_variance' false needs 'logvar_init' "
                                          "(the fixed log-variance).")
            self.autoencoder.quant_conv_log_sigma.requires_grad_(False)

    def _fit_block_pca(self) -> None:
        """Fit the fixed encoder on training blocks (a resume then loads the same values from the checkpoint)."""
        cfg = self.config.autoencoder
        if cfg.learn_posterior_variance:
            logger.warning("A block_pca autoencoder has a fixed posterior sigma; 'learn_posterior_variance' is ignored.")
        self.autoencoder.posterior_log_variance.fill_(-8.0 if cfg.logvar_init is None else cfg.logvar_init)
        count = min(cfg.pca_volumes, len(self.store))
        indices = np.unique(np.linspace(0, len(self.store) - 1, count).round().astype(int))
        started = time.perf_counter()
        blocks = training_blocks(self.autoencoder, [self.store.image(int(i)) for i in indices])
        fit = self.autoencoder.fit_basis(blocks.to(self.device))
        self.block_pca_fit = {**fit, "volumes": len(indices), "seconds": time.perf_counter() - started}
        if self.env.is_main:
            logger.info("Block-PCA encoder fitted on %d blocks of %d training volumes: %d directions keep %.2f%% of "
                        "their energy (%.1f s).", fit["blocks"], len(indices), self.autoencoder.latent_channels,
                        100 * fit["energy_kept"], self.block_pca_fit["seconds"])

    # --- one step ---------------------------------------------------------------------------------
    def _batch(self) -> torch.Tensor:
        cfg = self.config.autoencoder
        patches = []
        for index in self.sampler.next_indices(cfg.batch_size):
            corner = random_patch_corner(self.store.brain_mask(index), self.patch, self.rng, cfg.foreground_bias)
            patches.append(extract_patch(self.store.image(index), corner, self.patch))
        return torch.from_numpy(np.stack(patches)[:, None].copy()).to(self.device)

    def _latent_noise(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ``latent_noise`` argument of a block-PCA forward: per sample, one level drawn uniformly from 0 to
        ``decoder_latent_noise`` times each channel's RMS on this batch, so every channel is perturbed in
        proportion to its own strength, as a sampler's errors are (none when ``decoder_latent_noise`` is 0)."""
        fraction = self.config.autoencoder.decoder_latent_noise
        if fraction <= 0:
            return {}
        with torch.no_grad():
            channel_rms = self.autoencoder.encode(x)[0].float().transpose(0, 1).flatten(1).pow(2).mean(1).sqrt()
        levels = torch.rand(len(x), 1, generator=self.noise_generator) * fraction
        return {"latent_noise": levels.to(x.device) * channel_rms[None]}

    def _adversarial_active(self) -> bool:
        return self.discriminator is not None and self.step >= self.config.autoencoder.adv_start_step

    def train_step(self) -> dict[str, float]:
        cfg = self.config.autoencoder
        adversarial = self._adversarial_active()
        scaler = self.scalers["autoencoder"]
        self.ae_train.train()
        sums: dict[str, float] = {}
        pairs = []
        for micro in range(cfg.grad_accum):
            x = self._batch()
            sync = micro == cfg.grad_accum - 1 or not self.env.distributed
            context = self.ae_train.no_sync() if not sync else contextlib.nullcontext()
            with context:
                with autocast(self.device, self.section.cpu_bf16):
                    reconstruction, z_mu, z_sigma = self.ae_train(x, **self._latent_noise(x))
                reconstruction = reconstruction.float()
                terms = {
                    "l1": torch.nn.functional.l1_loss(reconstruction, x),
                    "ssim": self.ssim_loss(reconstruction, x),
                    "kl": kl_divergence(z_mu.float(), z_sigma.float()),
                }
                loss = cfg.l1_weight * terms["l1"] + cfg.ssim_weight * terms["ssim"] + cfg.kl_weight * terms["kl"]
                if adversarial:
                    self.discriminator.requires_grad_(False)
                    logits = self.discriminator(reconstruction.contiguous())[-1]
                    terms["generator_adv"] = self.adversarial_loss(logits, target_is_real=True, for_discriminator=False)
                    loss = loss + cfg.adv_weight * terms["generator_adv"]
                    self.discriminator.requires_grad_(True)
                    pairs.append((x, reconstruction.detach()))
                scaler.scale(loss / cfg.grad_accum).backward()
            for key, value in {**terms, "loss": loss}.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach()) / cfg.grad_accum
        self.optimizer_step("autoencoder", self.autoencoder)
        if adversarial:
            sums["discriminator"] = self._discriminator_step(pairs)
        self.emas["autoencoder"].update(self.autoencoder)
        return sums

    def _discriminator_step(self, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
        cfg = self.config.autoencoder
        scaler = self.scalers["discriminator"]
        total = 0.0
        for micro, (real, fake) in enumerate(pairs):
            sync = micro == len(pairs) - 1 or not self.env.distributed
            context = self.disc_train.no_sync() if not sync else contextlib.nullcontext()
            with context:
                with autocast(self.device, self.section.cpu_bf16):
                    # Real and fake share one forward so DDP sees one forward per backward.
                    logits = self.disc_train(torch.cat([fake, real]).contiguous())[-1].float()
                fake_logits, real_logits = logits.chunk(2)
                loss = 0.5 * (self.adversarial_loss(fake_logits, target_is_real=False, for_discriminator=True)
                              + self.adversarial_loss(real_logits, target_is_real=True, for_discriminator=True))
                scaler.scale(cfg.adv_weight * loss / len(pairs)).backward()
            total += float(loss.detach()) / len(pairs)
        self.optimizer_step("discriminator", self.discriminator)
        return total

    # --- previews, evaluation, final outputs ------------------------------------------------------------
    def preview(self) -> None:
        ema = self.emas["autoencoder"].shadow
        volume = self.eval_store.image(0)
        recon = reconstruct(ema, volume, self.device)
        error = np.clip(np.abs(recon - volume) * 4.0, 0.0, 1.0)
        path = self.monitor.image(self.step, "reconstruction", slice_panel([volume, recon, error]))
        logger.info("Preview (rows: held-out image, EMA reconstruction, 4x |error|): %s", path)

    def periodic(self) -> None:
        super().periodic()
        every = self.config.autoencoder.eval_every
        if every and self.step % every == 0:
            self.evaluate()

    def evaluate(self) -> dict[str, float]:
        """Held-out SSIM/PSNR of the EMA weights inside the brain mask (logged under ``eval/``)."""
        started = time.perf_counter()
        store = self.eval_store
        metrics = evaluate_autoencoder(self.emas["autoencoder"].shadow, [store.image(i) for i in range(len(store))],
                                       [store.brain_mask(i) for i in range(len(store))], self.device)
        metrics["seconds"] = time.perf_counter() - started
        self.monitor.scalars(self.step, metrics, prefix="eval")
        return metrics

    def run_metadata(self) -> dict[str, Any]:
        fit = {"block_pca_fit": self.block_pca_fit} if self.block_pca_fit else {}
        return {"manifest": str(self.manifest), **fit}

    def finish(self) -> None:
        """Evaluate, save the EMA weights, encode the cohort and record ``scale_factor`` (main process)."""
        if self.env.is_main:
            with torch.random.fork_rng(devices=[]):
                write_autoencoder_outputs(self)
        barrier(self.env)


def write_autoencoder_outputs(trainer: AutoencoderTrainer) -> dict[str, Any]:
    """The autoencoder stage's final outputs; ``final/autoencoder.json`` is written last."""
    folder = final_dir(trainer.out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FINAL_RECORD).unlink(missing_ok=True)
    ema = trainer.emas["autoencoder"].shadow
    weights = folder / FINAL_WEIGHTS
    temporary = folder / f".{FINAL_WEIGHTS}.tmp"
    save_weights(ema.state_dict(), temporary)
    os.replace(temporary, weights)
    metrics = trainer.evaluate()
    record = encode_cohort(ema, trainer.store, trainer.manifest, trainer.out_dir / "latents", weights, trainer.device,
                           seed=trainer.config.autoencoder.seed, scaling=trainer.config.autoencoder.latent_scaling)
    result = {
        "autoencoder": {**trainer.bundle_config.autoencoder, "scale_factor": record["scale_factor"]},
        "grid": trainer.bundle_config.grid.to_dict(),
        "config": trainer.config.to_dict(),
        "manifest": str(trainer.manifest),
        "steps": trainer.step,
        "training_seconds": trainer.elapsed_seconds(),
        "world_size": trainer.env.world_size,
        "device": str(trainer.device),
        "final_losses": trainer.last_logs,
        "held_out": metrics,
        **({"block_pca_fit": trainer.block_pca_fit} if trainer.block_pca_fit else {}),
        "latents": str((trainer.out_dir / "latents").resolve()),
        "num_training_volumes": len(trainer.store),
    }
    write_json_atomic(folder / FINAL_RECORD, result)
    logger.info("Autoencoder stage complete: held-out SSIM %.4f, PSNR %.2f dB, scale_factor %.4f -> %s",
                metrics["ssim"], metrics["psnr"], record["scale_factor"], folder)
    return result


def encode_cohort(autoencoder: torch.nn.Module, store: VolumeStore, manifest: Path, latents_dir: Path, weights: Path,
                  device: torch.device, seed: int = 0, scaling: str = "std") -> dict[str, Any]:
    """Encode the training volumes and write the latent cache; returns its summary.

    Args:
        autoencoder: the trained (EMA) autoencoder.
        store: the training split's volumes.
        manifest: the manifest they came from (recorded in the cache).
        latents_dir: the cache folder.
        weights: the autoencoder weights file (its digest ties the cache to these weights).
        device: where to encode.
        seed: seed of the posterior samples behind ``scale_factor``.
        scaling: ``std`` or ``strongest_channel`` (``latents.scale_factor_from``).
    """
    mu, sigma = encode_records(autoencoder, store, device)
    scale = scale_factor_from(mu, sigma, seed, scaling)
    write_latent_cache(latents_dir, store.records, mu, sigma, manifest, weights, scale)
    return {"scale_factor": scale, "count": len(store)}
