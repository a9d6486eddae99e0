"""ControlNet trainer: steer the frozen text U-Net with a tissue label map (MONAI ``ControlNet``).

The ControlNet mirrors the U-Net's encoder and starts from its weights (MONAI zero-initialises
the ControlNet's output convolutions, so at step 0 the controlled U-Net predicts exactly what the
U-Net alone predicts). Its conditioning is the subject's tissue label map (manifest column
``tissue_map``, labels 0..``max_label``) on the model grid, divided by ``max_label`` exactly as
``braingen3d.models.controlnet.prepare_control`` does at inference. Only the ControlNet trains; the U-Net
is the diffusion run's EMA U-Net, frozen. Captions and prompt dropout are the diffusion trainer's.

Outputs in the run folder: ``checkpoints/``, ``tensorboard/``, ``previews/`` and
``final/controlnet.safetensors`` + ``final/controlnet.json`` (written last: the stage is complete).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

from braingen3d.bundle import Bundle
from braingen3d.bundle.presets import controlnet_config
from braingen3d.bundle.weights import load_into, load_weights
from braingen3d.core.errors import BrainGenError
from braingen3d.models.builders import build_controlnet, build_unet
from braingen3d.models.controlnet import control_spec, controlnet_kwargs, prepare_control
from braingen3d.pipelines.generation import BrainGenPipeline
from braingen3d.prompts.text_encoder import PromptConditioning

from .autoencoder import final_dir
from .configs import TrainingConfig, TrainingConfigError
from .data import DataError
from .diffusion import UNET_WEIGHTS, load_trained_autoencoder, read_stage_record
from .distributed import DistEnv
from .fine_tune import DiffusionFineTuneTrainer
from .monitor import slice_panel

logger = logging.getLogger(__name__)

CONTROLNET_WEIGHTS = "controlnet.safetensors"
FINAL_RECORD = "controlnet.json"


def copy_encoder_weights(unet: torch.nn.Module, controlnet: torch.nn.Module) -> int:
    """Load the U-Net's weights into every ControlNet parameter of the same name and shape; returns how many."""
    source = unet.state_dict()
    target = controlnet.state_dict()
    shared = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    controlnet.load_state_dict(shared, strict=False)
    return len(shared)


class ControlNetTrainer(DiffusionFineTuneTrainer):
    """Trains a ControlNet on tissue label maps beside the frozen text U-Net of a finished diffusion run.

    Args:
        config: the training config (``config.controlnet`` holds the hyper-parameters).
        autoencoder_dir: the finished autoencoder run (latent cache and weights).
        diffusion_dir: the finished diffusion run whose EMA U-Net is frozen and steered.
        out_dir: the run folder.
        env: the distributed environment.
        resume: continue from the run folder's last checkpoint.
    """

    kind = "controlnet"
    section_name = "controlnet"
    network_name = "controlnet"
    stage_label = "ControlNet"
    weights_name = CONTROLNET_WEIGHTS
    record_name = FINAL_RECORD

    def __init__(self, config: TrainingConfig, autoencoder_dir: str | Path, diffusion_dir: str | Path,
                 out_dir: str | Path, env: DistEnv, resume: bool = False) -> None:
        super().__init__(config, autoencoder_dir, diffusion_dir, out_dir, env, resume)
        self.spec = control_spec(self.bundle_config.controlnet)
        self._controls: dict[str, torch.Tensor] = {}
        missing = [self.latents.rows[int(i)].get("subject_id", str(i)) for i in self.train_rows
                   if not self.latents.rows[int(i)].get("tissue_map")]
        if missing:
            self._release_lock()
            raise DataError(f"ControlNet training needs a tissue_map for every training row; {len(missing)} have none "
                            f"(e.g. {missing[:3]}). Add label maps to the manifest or drop those rows.")

    def build_network(self) -> torch.nn.Module:
        self.bundle_config.controlnet = controlnet_config(self.bundle_config, int(self.section.max_label))
        self.bundle_config.capabilities = {**self.bundle_config.capabilities, "controlnet": True}
        self.frozen_unet = build_unet(self.bundle_config.unet, flash_attention=True)
        load_into(self.frozen_unet, load_weights(final_dir(self.diffusion_dir) / UNET_WEIGHTS), "unet", UNET_WEIGHTS)
        self.frozen_unet = self.frozen_unet.to(self.device).eval().requires_grad_(False)
        controlnet = build_controlnet(controlnet_kwargs(self.bundle_config.controlnet), flash_attention=True)
        copied = copy_encoder_weights(self.frozen_unet, controlnet)
        logger.info("ControlNet initialised from %d U-Net tensors.", copied)
        return controlnet

    # --- conditioning -------------------------------------------------------------------------------------
    def control_map(self, fields: dict[str, str]) -> torch.Tensor:
        """The row's tissue label map, prepared as at inference: (1, i, j, k), scaled to [0, 1]."""
        path = fields["tissue_map"]
        if path not in self._controls:
            resolved = Path(path) if Path(path).is_absolute() else self.latents.manifest.parent / path
            labels = np.asarray(nib.load(str(resolved)).dataobj)
            try:
                self._controls[path] = prepare_control(labels, self.bundle_config.grid.shape, self.spec)[0]
            except BrainGenError as exc:
                raise DataError(f"Tissue map {resolved}: {exc}") from exc
        return self._controls[path]

    def conditioning(self, rows: np.ndarray, latents: torch.Tensor) -> tuple[list[str], torch.Tensor, None]:
        controls = torch.stack([self.control_map(self.latents.rows[int(row)]) for row in rows])
        return self._draw_captions(rows), controls, None

    def predict(self, noisy: torch.Tensor, timesteps: torch.Tensor, conditioning: PromptConditioning,
                extra: torch.Tensor | None) -> torch.Tensor:
        """The frozen U-Net with the ControlNet's residuals; the ControlNet reads the text tokens only."""
        down, mid = self.unet_train(noisy, timesteps, controlnet_cond=extra.to(noisy.device),
                                    conditioning_scale=1.0, context=conditioning.context)
        return self.frozen_unet(noisy, timesteps, **conditioning.unet_kwargs(), down_block_additional_residuals=down,
                                mid_block_additional_residual=mid)

    # --- previews and final outputs -------------------------------------------------------------------
    def pipeline(self) -> BrainGenPipeline:
        if self._pipeline is None:
            autoencoder = load_trained_autoencoder(self.autoencoder_dir, self.bundle_config.autoencoder_kwargs)
            bundle = Bundle(path=self.out_dir, config=copy.deepcopy(self.bundle_config), card="", autoencoder=autoencoder,
                            unet=self.frozen_unet, controlnet=self.emas[self.network_name].shadow)
            self._pipeline = BrainGenPipeline(bundle, self.text_encoder, self.device)
        return self._pipeline

    def preview(self) -> None:
        """A fixed-seed sample steered by the first training row's label map (row 1: the map; row 2: the sample)."""
        cfg = self.section
        fields = self.latents.rows[int(self.train_rows[0])]
        labels = (self.control_map(fields)[0] * float(self.spec.get("max_label", 5))).round().numpy()
        output = self.pipeline()(cfg.preview_prompt, num_inference_steps=cfg.preview_steps, guidance_scale=cfg.preview_guidance,
                                 sampler="dpm++", seed=0, control=labels, control_scale=1.0)
        panel = slice_panel([labels / max(float(labels.max()), 1.0), output.volumes[0].array])
        path = self.monitor.image(self.step, "controlled", panel)
        logger.info("Preview (%d DPM++ steps, seed 0, %r, label map of %s): %s", cfg.preview_steps, cfg.preview_prompt,
                    fields.get("subject_id", "row 0"), path)

    def record_fields(self) -> dict[str, Any]:
        return {**super().record_fields(), "controlnet": self.bundle_config.controlnet}


def read_controlnet_record(out_dir: str | Path) -> dict[str, Any] | None:
    return read_stage_record(out_dir, FINAL_RECORD)


def load_trained_controlnet(out_dir: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The finished ControlNet run's EMA ControlNet and its bundle ``controlnet`` field."""
    record = read_controlnet_record(out_dir)
    if record is None:
        raise TrainingConfigError(f"{out_dir} is not a finished ControlNet run (no final/{FINAL_RECORD}).")
    network = build_controlnet(controlnet_kwargs(record["controlnet"]))
    load_into(network, load_weights(final_dir(out_dir) / CONTROLNET_WEIGHTS), "controlnet", CONTROLNET_WEIGHTS)
    return network.eval(), record["controlnet"]
