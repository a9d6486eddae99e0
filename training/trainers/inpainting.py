"""Inpainting U-Net fine-tune (MAM-E / Stable-Diffusion-inpainting style) from the trained text U-Net.

The inpainting U-Net sees ``2 * C + 1`` input channels in the engine's order
(``braingen3d.pipelines.inpaint.methods.INPAINT_UNET_INPUT_ORDER``): the noisy latent, the
latent-grid mask and the masked clean latent ``mu * scale_factor * (1 - mask)``. It starts as a
copy of the finished diffusion run's EMA U-Net; the new input channels' weights start at zero,
so at step 0 it predicts exactly what the text U-Net predicts.

Masks are the cohort's own lesion masks (one lesion or all, dilated by up to a few mm, as a user
would paint them) and random ellipsoids anywhere in the brain; captions name what the masked
region holds ("a 9 mm white-matter hyperintensity", "multiple white-matter lesions", "no lesions").
The loss is the usual v/epsilon MSE plus ``region_loss_weight`` times the MSE inside the mask,
because a small mask is otherwise a small part of the loss.

Outputs in the run folder: ``checkpoints/``, ``tensorboard/``, ``previews/`` and
``final/inpaint_unet.safetensors`` + ``final/inpainting.json`` (written last: the stage is complete).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from braingen3d.bundle.config import inpaint_unet_in_channels
from braingen3d.bundle.weights import load_into, load_weights
from braingen3d.models.builders import build_unet
from braingen3d.pipelines.inpaint.methods import LatentProblem, masked_latent, sample_with_inpaint_unet
from braingen3d.pipelines.inpaint.model_space import latent_downsampling
from braingen3d.prompts.attributes import LESION_ATTRIBUTES_FLAG, PROMPT_ATTRIBUTES_FLAG
from braingen3d.sampling.loop import SamplerRun

from .autoencoder import final_dir
from .configs import TrainingConfig, TrainingConfigError
from .diffusion import UNET_WEIGHTS, read_stage_record
from .distributed import DistEnv
from .fine_tune import DiffusionFineTuneTrainer
from .lesion_masks import MaskDrawer, SubjectMasks, load_subject_masks
from .monitor import slice_panel

logger = logging.getLogger(__name__)

INPAINT_UNET_WEIGHTS = "inpaint_unet.safetensors"
FINAL_RECORD = "inpainting.json"


def inpaint_unet_kwargs(unet_kwargs: dict[str, Any], latent_channels: int, lesion_attributes: bool = False
                        ) -> dict[str, Any]:
    """The inpainting U-Net's arguments: the text U-Net's, with ``2 * C + 1`` input channels.

    ``lesion_attributes`` lets a U-Net that reads prompt attributes read the lesion features as well; one that
    does not refuses it.
    """
    kwargs = {**unet_kwargs, "in_channels": inpaint_unet_in_channels(latent_channels)}
    if lesion_attributes:
        if not kwargs.get(PROMPT_ATTRIBUTES_FLAG):
            raise TrainingConfigError("Config field 'inpainting.lesion_attributes' needs a U-Net that reads prompt "
                                      "attributes ('architecture.unet.prompt_attributes: true', e.g. the small "
                                      "config).")
        kwargs[LESION_ATTRIBUTES_FLAG] = True
    return kwargs


def widen_input_weights(state: dict[str, torch.Tensor], network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``state`` (a text U-Net's) reshaped for ``network``: weights with more inputs there (the input
    convolution's extra channels, the attribute embedding's lesion features) padded with zeros, so the
    widened network starts as the text U-Net."""
    target = network.state_dict()
    widened = {}
    for name, tensor in state.items():
        wanted = target[name].shape if name in target else tensor.shape
        if (tensor.shape != wanted and tensor.dim() in (2, 5) and len(wanted) == tensor.dim()
                and tensor.shape[0] == wanted[0] and tensor.shape[2:] == wanted[2:] and tensor.shape[1] < wanted[1]):
            padded = torch.zeros(wanted, dtype=tensor.dtype)
            padded[:, : tensor.shape[1]] = tensor
            tensor = padded
        widened[name] = tensor
    return widened


class InpaintingTrainer(DiffusionFineTuneTrainer):
    """Fine-tunes an inpainting U-Net from a finished diffusion run.

    Args:
        config: the training config (``config.inpainting`` holds the hyper-parameters).
        autoencoder_dir: the finished autoencoder run (latent cache and weights).
        diffusion_dir: the finished diffusion run whose EMA U-Net initialises this one.
        out_dir: the run folder.
        env: the distributed environment.
        resume: continue from the run folder's last checkpoint.
    """

    kind = "inpainting"
    section_name = "inpainting"
    stage_label = "inpainting"
    weights_name = INPAINT_UNET_WEIGHTS
    record_name = FINAL_RECORD

    def __init__(self, config: TrainingConfig, autoencoder_dir: str | Path, diffusion_dir: str | Path,
                 out_dir: str | Path, env: DistEnv, resume: bool = False) -> None:
        super().__init__(config, autoencoder_dir, diffusion_dir, out_dir, env, resume)
        cfg = config.inpainting
        grid = self.bundle_config.grid
        self.drawer = MaskDrawer(grid.shape, float(grid.spacing[0]), latent_downsampling(self.bundle_config),
                                 lesion_probability=cfg.lesion_probability, max_dilation_mm=cfg.max_dilation_mm,
                                 random_radius_mm=tuple(cfg.random_radius_mm), blob_probability=cfg.blob_probability,
                                 sham_probability=cfg.sham_probability)
        self._subjects: dict[tuple[str, str], SubjectMasks] = {}
        self._preview_problem: tuple[LatentProblem, np.ndarray] | None = None
        lesion_rows = sum(1 for i in self.train_rows if self.latents.rows[int(i)].get("lesion_mask"))
        if lesion_rows == 0:
            logger.warning("No training row has a lesion_mask: the inpainting U-Net learns from random masks only.")

    def build_network(self) -> torch.nn.Module:
        kwargs = inpaint_unet_kwargs(self.bundle_config.unet, int(self.bundle_config.autoencoder["latent_channels"]),
                                     self.section.lesion_attributes)
        self.bundle_config.inpaint_unet = kwargs
        network = build_unet(kwargs, flash_attention=True)
        base = load_weights(final_dir(self.diffusion_dir) / UNET_WEIGHTS)
        load_into(network, widen_input_weights(base, network), "inpaint_unet (from the diffusion run's U-Net)", UNET_WEIGHTS)
        return network

    # --- masks and captions -------------------------------------------------------------------------------
    def _resolve(self, value: str | None) -> Path | None:
        if not value:
            return None
        path = Path(value)
        return path if path.is_absolute() else self.latents.manifest.parent / path

    def subject_masks(self, fields: dict[str, str]) -> SubjectMasks:
        key = (fields.get("lesion_mask") or "", fields.get("tissue_map") or "")
        if key not in self._subjects:
            self._subjects[key] = load_subject_masks(self._resolve(key[0]), self._resolve(key[1]),
                                                     tuple(self.bundle_config.grid.shape))
        return self._subjects[key]

    def region_loss_weight(self) -> float:
        """Weight of the loss term inside the mask."""
        return float(self.section.region_loss_weight)

    def conditioning(self, rows: np.ndarray, latents: torch.Tensor) -> tuple[list[str], torch.Tensor, torch.Tensor]:
        captions, masks = [], []
        for row in rows:
            fields = self.latents.rows[int(row)]
            drawn = self.drawer.draw(self.subject_masks(fields), fields.get("modality", ""), self.rng)
            masks.append(drawn.latent)
            captions.append("" if self.rng.random() < self.section.prompt_dropout else drawn.caption)
        mask = torch.stack(masks)
        clean = self.latents.mu[torch.from_numpy(rows)] * self.latents.scale_factor
        return captions, torch.cat([mask, masked_latent(clean, mask)], dim=1), mask

    # --- previews and final outputs -------------------------------------------------------------------
    def _preview_inputs(self) -> tuple[LatentProblem, np.ndarray]:
        """A fixed FLAIR training latent with a 12 mm sphere in deep white matter, and its slice index."""
        if self._preview_problem is None:
            rows = [int(i) for i in self.train_rows if self.latents.rows[int(i)].get("modality") == "FLAIR"] or \
                   [int(self.train_rows[0])]
            row = rows[0]
            grid = self.bundle_config.grid
            world = np.array([26.0, -10.0, 24.0, 1.0])  # right periventricular white matter, MNI mm
            centre = np.clip((np.linalg.inv(grid.affine) @ world)[:3].round().astype(int), 0, np.array(grid.shape) - 1)
            radius = 6.0 / float(grid.spacing[0])
            distance = np.linalg.norm(np.indices(grid.shape) - centre.reshape(3, 1, 1, 1), axis=0)
            mask = self.drawer._to_latent(distance <= radius)[None]
            conditioning = self.text_encoder.conditioning(["", self.section.preview_prompt]).to(self.device)
            clean = self.latents.mu[row: row + 1] * self.latents.scale_factor
            self._preview_problem = (LatentProblem(clean.to(self.device), mask.to(self.device), conditioning,
                                                   self.section.preview_guidance), centre)
        return self._preview_problem

    def preview(self) -> None:
        problem, centre = self._preview_inputs()
        run = SamplerRun("dpm++", self.bundle_config.noise_scheduler, self.section.preview_steps, 0, self.device)
        self.emas["unet"].shadow.eval()
        with torch.inference_mode():
            latent = sample_with_inpaint_unet(self.emas["unet"].shadow, problem, run)
            autoencoder = self.pipeline().bundle.autoencoder
            def decode(z):
                return autoencoder.decode(z / self.latents.scale_factor)[0, 0].float().cpu().numpy()
            before, after = decode(problem.clean_latent), decode(latent)
        path = self.monitor.image(self.step, "inpaint", slice_panel([before, after], centre=tuple(int(c) for c in centre)))
        logger.info("Preview (%d DPM++ steps, seed 0, %r in a 12 mm sphere): %s", self.section.preview_steps,
                    self.section.preview_prompt, path)

    def record_fields(self) -> dict[str, Any]:
        return {**super().record_fields(), "inpaint_unet": self.bundle_config.inpaint_unet}


def read_inpainting_record(out_dir: str | Path) -> dict[str, Any] | None:
    return read_stage_record(out_dir, FINAL_RECORD)


def load_trained_inpaint_unet(out_dir: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The finished inpainting run's EMA U-Net and its constructor arguments."""
    record = read_inpainting_record(out_dir)
    if record is None:
        raise TrainingConfigError(f"{out_dir} is not a finished inpainting run (no final/{FINAL_RECORD}).")
    network = build_unet(record["inpaint_unet"])
    load_into(network, load_weights(final_dir(out_dir) / INPAINT_UNET_WEIGHTS), "inpaint_unet", INPAINT_UNET_WEIGHTS)
    return network.eval(), record["inpaint_unet"]

