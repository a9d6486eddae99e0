"""Text-conditioned latent diffusion U-Net trainer on the autoencoder run's cached latents.

Each sample is ``z = (mu + sigma * eps) * scale_factor`` from the latent cache, a caption drawn
afresh (manifest override or a new paraphrase), replaced by the empty prompt with probability
``prompt_dropout`` so that classifier-free guidance has an unconditional branch. The loss is the
MSE to the noise (``epsilon``) or to the velocity (``v_prediction``), optionally min-SNR weighted.

Random flips are not used: flipping a cached latent is not the latent of the flipped image (the
autoencoder is not flip-equivariant), and captions may name a side (e.g. a left-hemisphere lesion).

Outputs in the run folder: ``checkpoints/``, ``tensorboard/``, ``previews/`` and
``final/unet.safetensors`` + ``final/diffusion.json`` (written last: the stage is complete).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from braingen3d.bundle import Bundle
from braingen3d.bundle.weights import load_into, load_weights, save_weights
from braingen3d.core.errors import BundleError
from braingen3d.models.anatomical_prior import ANATOMICAL_PRIOR_FIELD, ANATOMICAL_PRIOR_PREFIX
from braingen3d.models.builders import build_autoencoder, build_unet, count_parameters
from braingen3d.models.unet import PRECONDITIONING_FIELD
from braingen3d.pipelines.generation import BrainGenPipeline
from braingen3d.prompts.text_encoder import PromptConditioning, TextEncoder
from braingen3d.sampling.schedulers import make_training_scheduler

from .anatomical_prior import template_prior_maps
from .autoencoder import FINAL_WEIGHTS as AE_WEIGHTS
from .autoencoder import final_dir, read_final_record
from .captioning import CaptionSource, load_caption_builder
from .configs import TrainingConfig, TrainingConfigError
from .distributed import DistEnv, barrier
from .ema import EMA
from .latents import LatentCache, file_digest, write_json_atomic
from .loop import Trainer
from .monitor import slice_panel
from .precision import autocast, enable_unet_checkpointing, make_grad_scaler
from .sampler import ShardedSampler
from .schedule import warmup_cosine

logger = logging.getLogger(__name__)

UNET_WEIGHTS = "unet.safetensors"
FINAL_RECORD = "diffusion.json"


def min_snr_weights(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor, gamma: float, prediction_type: str,
                    floor: float | None = None) -> torch.Tensor:
    """Min-SNR-gamma loss weights (Hang et al. 2023) for epsilon or v targets.

    As a weight on the clean-latent error, min-SNR-gamma is ``min(SNR, gamma)``; ``floor`` raises it to
    at least ``floor``. Without a floor the high-noise steps get almost no weight (about SNR), and those
    are the steps where whole-volume attributes (the modality, the ventricle size) are decided.

    Args:
        alphas_cumprod: the schedule's cumulative alphas.
        timesteps: the sampled timesteps.
        gamma: the SNR clamp from above.
        prediction_type: ``epsilon`` or ``v_prediction``.
        floor: the clamp from below, or None.
    """
    alpha = alphas_cumprod[timesteps]
    snr = alpha / (1.0 - alpha)
    clamped = torch.clamp(snr, min=floor, max=gamma)
    return clamped / (snr + 1.0) if prediction_type == "v_prediction" else clamped / snr


def region_mean(squared: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Per-sample mean of ``squared`` (N, C, ...) over the voxels where ``region`` (N, 1, ...) is 1."""
    weight = region.expand_as(squared)
    return (squared * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1.0)


def measure_channel_preconditioning(latents: LatentCache, rows: np.ndarray,
                                    noise_scheduler: dict[str, Any]) -> dict[str, Any]:
    """The ``channel_preconditioning`` field of a U-Net: the scaled training latents' mean square per channel."""
    total = torch.zeros(latents.mu.shape[1], dtype=torch.float64)
    for start in range(0, len(rows), 64):
        chunk = latents.mu[torch.from_numpy(rows[start:start + 64])].double() * latents.scale_factor
        total += chunk.pow(2).mean(dim=(2, 3, 4)).sum(0)
    second_moment = (total / len(rows)).clamp_min(1e-6)
    logger.info("Channel preconditioning: latent second moments from %.4g to %.4g over %d training latents.",
                float(second_moment.min()), float(second_moment.max()), len(rows))
    return {"second_moment": [float(m) for m in second_moment], "noise_scheduler": copy.deepcopy(noise_scheduler)}


def load_trained_autoencoder(autoencoder_dir: str | Path, kwargs: dict[str, Any]) -> torch.nn.Module:
    """The finished autoencoder run's EMA weights in an ``AutoencoderKL`` built from ``kwargs``."""
    network = build_autoencoder(kwargs)
    load_into(network, load_weights(final_dir(autoencoder_dir) / AE_WEIGHTS), "autoencoder", AE_WEIGHTS)
    return network.eval().requires_grad_(False)


def open_latent_cache(autoencoder_dir: Path) -> LatentCache:
    """The finished autoencoder run's latent cache, refused unless it was encoded with the run's final weights."""
    ae_record = read_final_record(autoencoder_dir)
    if ae_record is None:
        raise FileNotFoundError(
            f"{autoencoder_dir} is not a finished autoencoder run (no final/autoencoder.json). "
            "Train it first: python -m training.train_autoencoder --out " + str(autoencoder_dir)
        )
    latents = LatentCache(ae_record["latents"])
    weights = final_dir(autoencoder_dir) / AE_WEIGHTS
    if file_digest(weights) != latents.autoencoder_sha256:
        raise TrainingConfigError(
            f"The latent cache {ae_record['latents']} was made with other autoencoder weights than {weights}. "
            "Re-encode with: python -m training.train_autoencoder --encode-only --out " + str(autoencoder_dir)
        )
    return latents


class DiffusionTrainer(Trainer):
    """Trains the bundle's ``DiffusionModelUNet`` (cross-attention on token-level text states).

    Args:
        config: the training config (``config.diffusion`` holds the hyper-parameters).
        autoencoder_dir: a finished autoencoder run (its ``final/`` and ``latents/`` folders).
        out_dir: the run folder.
        env: the distributed environment.
        resume: continue from the run folder's last checkpoint.
        init_from: a finished diffusion run whose EMA U-Net starts this one (fine-tuning); the U-Net may add
            modules that start as the identity (the anatomical prior), nothing else may differ.
    """

    kind = "diffusion"
    section_name = "diffusion"
    network_name = "unet"

    def __init__(self, config: TrainingConfig, autoencoder_dir: str | Path, out_dir: str | Path, env: DistEnv,
                 resume: bool = False, init_from: str | Path | None = None) -> None:
        cfg = getattr(config, self.section_name)
        super().__init__(config, cfg, out_dir, env, resume)
        self.autoencoder_dir = Path(autoencoder_dir).resolve()
        self.latents = open_latent_cache(self.autoencoder_dir)
        self.bundle_config = config.bundle_config()
        self.bundle_config.autoencoder["scale_factor"] = self.latents.scale_factor
        expected = tuple(self.bundle_config.latent_shape)
        if tuple(self.latents.mu.shape[1:]) != expected:
            raise TrainingConfigError(
                f"Cached latents have shape {tuple(self.latents.mu.shape[1:])} but config {config.name!r} implies {expected}; "
                "train the diffusion model with the same config as the autoencoder."
            )
        self.train_rows = self.latents.indices("train")
        if self.train_rows.size == 0:
            raise TrainingConfigError("The latent cache holds no 'train' rows.")
        if self.bundle_config.unet.get(PRECONDITIONING_FIELD) is True:
            self.bundle_config.unet[PRECONDITIONING_FIELD] = measure_channel_preconditioning(
                self.latents, self.train_rows, self.bundle_config.noise_scheduler)
        self.prior_maps = self._anatomical_prior_maps(config)
        self.init_from = None if init_from is None else Path(init_from).resolve()
        builder, self.caption_builder_name = load_caption_builder(self.latents.manifest)
        self.captions = CaptionSource(builder)
        self.text_encoder = TextEncoder.from_config(self.bundle_config.text_encoder, device=self.device,
                                                    cache_size=cfg.text_cache_size)
        self.noise_scheduler = make_training_scheduler(self.bundle_config.noise_scheduler)
        self.prediction_type = self.bundle_config.prediction_type
        self.alphas_cumprod = self.noise_scheduler.alphas_cumprod.float()

        torch.manual_seed(cfg.seed)
        # The network this trainer fits; named by ``network_name`` in checkpoints.
        name = self.network_name
        self.unet = self.build_network()
        prior = getattr(self.unet, ANATOMICAL_PRIOR_FIELD, None)
        if prior is not None:  # a ControlNet stage trains a network without one
            prior.maps.copy_(self.prior_maps)
        if self.init_from is not None:
            self._initialise_from(self.init_from)
        self.unet = self.unet.to(self.device)
        # The anatomical prior's projection: its own learning rate, and no update before its start step.
        self.prior_parameters = [p for n, p in self.unet.named_parameters() if n.startswith(ANATOMICAL_PRIOR_PREFIX)]
        self.modules[name] = self.unet
        self.emas[name] = EMA(self.unet, cfg.ema_decay)
        self.optimizers[name] = torch.optim.AdamW(self.parameter_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.schedulers[name] = warmup_cosine(self.optimizers[name], cfg.warmup_steps, cfg.max_steps, cfg.min_lr_ratio)
        self.scalers[name] = make_grad_scaler(self.device)
        self.sampler = ShardedSampler(len(self.train_rows), cfg.seed, env.rank, env.world_size)
        self._start()
        started_with = self.resumed_meta.get("autoencoder_sha256")
        if started_with is not None and started_with != self.latents.autoencoder_sha256:
            self._release_lock()
            raise TrainingConfigError(
                f"The autoencoder in {self.autoencoder_dir} changed since the diffusion run {self.out_dir} started; its "
                "latents mean something else now. Start a new diffusion run (another --out, or delete this one)."
            )

        if self.device.type == "cuda":
            enable_unet_checkpointing(self.unet)
        self.unet_train: torch.nn.Module = self.unet
        if env.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.unet_train = DistributedDataParallel(self.unet, device_ids=ids)
            self._sync_emas()
        self._pipeline: BrainGenPipeline | None = None
        if env.is_main:
            logger.info("U-Net: %.2fM parameters; %d training latents %s; %s; captions: %s.",
                        count_parameters(self.unet) / 1e6, len(self.train_rows), list(expected), self.prediction_type,
                        self.caption_builder_name)

    def build_network(self) -> torch.nn.Module:
        """The network this trainer fits (the text-conditioned U-Net, freshly initialised)."""
        return build_unet(self.bundle_config.unet, flash_attention=True)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The optimiser's groups: the anatomical prior's projection (if any) at ``anatomical_prior_lr_scale`` x lr."""
        cfg = self.section
        prior = {id(p) for p in self.prior_parameters}
        groups = [{"params": [p for p in self.unet.parameters() if id(p) not in prior]}]
        if self.prior_parameters:
            groups.append({"params": self.prior_parameters, "lr": cfg.lr * cfg.anatomical_prior_lr_scale})
        return groups

    def _anatomical_prior_maps(self, config: TrainingConfig) -> torch.Tensor | None:
        """The template maps of the U-Net's ``anatomical_prior`` (None without one); records their latent shape."""
        prior = self.bundle_config.unet.get(ANATOMICAL_PRIOR_FIELD)
        if prior is None:
            return None
        maps = template_prior_maps(self.bundle_config.grid, config.downsampling, list(prior.get("structures") or []),
                                   float(prior.get("smoothing_voxels", 1.0)))
        prior["shape"] = list(maps.shape[1:])
        return maps

    def _initialise_from(self, run_dir: Path) -> None:
        """Start from a finished diffusion run's EMA U-Net; only the anatomical prior may be new (it starts at zero)."""
        weights = final_dir(run_dir) / UNET_WEIGHTS
        if not weights.is_file():
            raise TrainingConfigError(f"--init-from {run_dir} is not a finished diffusion run (no {weights}).")
        # The new prior keeps its fresh tensors unless the run already had one; load_into checks the rest.
        fresh_prior = {k: v for k, v in self.unet.state_dict().items() if k.startswith(ANATOMICAL_PRIOR_PREFIX)}
        try:
            load_into(self.unet, {**fresh_prior, **load_weights(weights)}, "unet", UNET_WEIGHTS)
        except BundleError as exc:
            raise TrainingConfigError(
                f"--init-from {run_dir}: its U-Net differs from this config's beyond an added anatomical prior "
                f"({exc}) Fine-tune with the architecture the run was trained with.") from exc
        logger.info("U-Net initialised from %s.", weights)

    # --- one step ---------------------------------------------------------------------------------------
    def _draw_captions(self, rows: np.ndarray) -> list[str]:
        dropout = self.section.prompt_dropout
        captions = []
        for row in rows:
            caption = self.captions(self.latents.rows[int(row)], self.rng)
            captions.append("" if self.rng.random() < dropout else caption)
        return captions

    def conditioning(self, rows: np.ndarray, latents: torch.Tensor) -> tuple[list[str], torch.Tensor | None, torch.Tensor | None]:
        """Captions, extra conditioning for ``predict`` (None here) and a loss region: the anatomical prior's maps
        with ``anatomical_prior_loss_weight``, else None (the whole latent only)."""
        region = None
        if self.prior_maps is not None and self.region_loss_weight() > 0:
            region = self.prior_maps.sum(0).clamp_max(1.0).expand(len(rows), 1, *self.prior_maps.shape[1:])
        return self._draw_captions(rows), None, region

    def region_loss_weight(self) -> float:
        """Weight of the loss term averaged over ``conditioning``'s region (0 before the prior's start step)."""
        if not self.prior_started():
            return 0.0
        return float(self.section.anatomical_prior_loss_weight)

    def prior_started(self) -> bool:
        """Whether the anatomical prior trains at this step (``anatomical_prior_start_step``)."""
        return self.step >= int(self.section.anatomical_prior_start_step)

    def predict(self, noisy: torch.Tensor, timesteps: torch.Tensor, conditioning: PromptConditioning,
                extra: torch.Tensor | None) -> torch.Tensor:
        """The model's prediction; ``extra`` (e.g. mask and masked latent) is concatenated as input channels."""
        model_input = noisy if extra is None else torch.cat([noisy, extra.to(noisy.device)], dim=1)
        return self.unet_train(model_input, timesteps, **conditioning.unet_kwargs())

    def train_step(self) -> dict[str, float]:
        cfg = self.section
        self.unet_train.train()
        total = 0.0
        unweighted = 0.0
        for micro in range(cfg.grad_accum):
            rows = self.train_rows[self.sampler.next_indices(cfg.batch_size)]
            index = torch.from_numpy(rows)
            mu, sigma = self.latents.mu[index], self.latents.sigma[index]
            if cfg.sample_posterior:
                mu = mu + sigma * torch.randn(mu.shape, generator=self.generator)
            latents = mu * self.latents.scale_factor
            captions, extra_channels, region = self.conditioning(rows, latents)
            conditioning = self.text_encoder.conditioning(captions).to(self.device)
            noise = torch.randn(latents.shape, generator=self.generator)
            timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (len(rows),), generator=self.generator)
            noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
            target = noise if self.prediction_type == "epsilon" else self.noise_scheduler.get_velocity(latents, noise, timesteps)
            sync = micro == cfg.grad_accum - 1 or not self.env.distributed
            with self.unet_train.no_sync() if not sync else contextlib.nullcontext():
                with autocast(self.device, self.section.cpu_bf16):
                    prediction = self.predict(noisy.to(self.device), timesteps.to(self.device), conditioning,
                                              extra_channels)
                squared = (prediction.float() - target.to(self.device)).pow(2)
                mse = squared.flatten(1).mean(1)
                per_sample = mse
                if region is not None:
                    per_sample = per_sample + self.region_loss_weight() * region_mean(squared, region.to(self.device))
                if cfg.min_snr_gamma:
                    weights = min_snr_weights(self.alphas_cumprod, timesteps, cfg.min_snr_gamma, self.prediction_type,
                                              cfg.min_snr_floor)
                    loss = (per_sample * weights.to(self.device)).mean()
                else:
                    loss = per_sample.mean()
                self.scalers[self.network_name].scale(loss / cfg.grad_accum).backward()
            total += float(loss.detach()) / cfg.grad_accum
            unweighted += float(mse.detach().mean()) / cfg.grad_accum
        if not self.prior_started():
            for parameter in self.prior_parameters:
                parameter.grad = None  # the optimiser skips it: no update, no weight decay, no moments
        self.optimizer_step(self.network_name, self.unet)
        self.emas[self.network_name].update(self.unet)
        return {"loss": total, "mse": unweighted}

    # --- previews and final outputs -------------------------------------------------------------------
    def pipeline(self) -> BrainGenPipeline:
        """An engine pipeline over the EMA U-Net and the trained autoencoder (built once, reused)."""
        if self._pipeline is None:
            autoencoder = load_trained_autoencoder(self.autoencoder_dir, self.bundle_config.autoencoder_kwargs)
            bundle = Bundle(path=self.out_dir, config=copy.deepcopy(self.bundle_config), card="",
                            autoencoder=autoencoder, unet=self.emas["unet"].shadow)
            self._pipeline = BrainGenPipeline(bundle, self.text_encoder, self.device)
        return self._pipeline

    def preview(self) -> None:
        cfg = self.section
        output = self.pipeline()(cfg.preview_prompt, num_inference_steps=cfg.preview_steps,
                                 guidance_scale=cfg.preview_guidance, sampler="dpm++", seed=0)
        path = self.monitor.image(self.step, "sample", slice_panel([output.volumes[0].array]))
        logger.info("Preview (%d DPM++ steps, seed 0, %r): %s", cfg.preview_steps, cfg.preview_prompt, path)

    def run_metadata(self) -> dict[str, Any]:
        return {"autoencoder_dir": str(self.autoencoder_dir), "autoencoder_sha256": self.latents.autoencoder_sha256}

    def finish(self) -> None:
        """Write the EMA U-Net and the stage record (main process)."""
        if self.env.is_main:
            write_diffusion_outputs(self)
        barrier(self.env)


def write_stage_outputs(trainer: "DiffusionTrainer", weights_name: str, record_name: str, fields: dict[str, Any],
                        label: str) -> dict[str, Any]:
    """``final/<weights_name>`` (the EMA of the trained network), then ``final/<record_name>`` (written last).

    The record holds the config, steps, wall time, world size, device and final losses, plus ``fields``.
    """
    folder = final_dir(trainer.out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / record_name).unlink(missing_ok=True)
    temporary = folder / f".{weights_name}.tmp"
    save_weights(trainer.emas[trainer.network_name].shadow.state_dict(), temporary)
    os.replace(temporary, folder / weights_name)
    record = {
        "config": trainer.config.to_dict(),
        **fields,
        "steps": trainer.step,
        "training_seconds": trainer.elapsed_seconds(),
        "world_size": trainer.env.world_size,
        "device": str(trainer.device),
        "final_losses": trainer.last_logs,
    }
    write_json_atomic(folder / record_name, record)
    logger.info("%s stage complete after %d steps -> %s", label, trainer.step, folder)
    return record


def read_stage_record(out_dir: str | Path, record_name: str) -> dict[str, Any] | None:
    """A finished stage's ``final/<record_name>``, or None if the stage has not finished."""
    path = final_dir(out_dir) / record_name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_diffusion_outputs(trainer: DiffusionTrainer) -> dict[str, Any]:
    """``final/unet.safetensors`` (EMA) and ``final/diffusion.json`` (written last)."""
    modalities = sorted({trainer.latents.rows[int(i)].get("modality", "") for i in trainer.train_rows} - {""})
    datasets = sorted({trainer.latents.rows[int(i)].get("dataset", "") for i in trainer.train_rows} - {""})
    return write_stage_outputs(trainer, UNET_WEIGHTS, FINAL_RECORD, {
        "autoencoder_dir": str(trainer.autoencoder_dir),
        "autoencoder_sha256": trainer.latents.autoencoder_sha256,
        "scale_factor": trainer.latents.scale_factor,
        "num_training_latents": int(len(trainer.train_rows)),
        "modalities": modalities,
        "datasets": datasets,
        "manifest": str(trainer.latents.manifest),
        "caption_builder": trainer.caption_builder_name,
        "prediction_type": trainer.prediction_type,
        **{field: trainer.bundle_config.unet[field] for field in (PRECONDITIONING_FIELD, ANATOMICAL_PRIOR_FIELD)
           if field in trainer.bundle_config.unet},
        **({"initialised_from": str(trainer.init_from)} if trainer.init_from is not None else {}),
    }, "Diffusion")
