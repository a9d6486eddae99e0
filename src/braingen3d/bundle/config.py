"""The bundle's config.json: what a bundle declares about its networks, grid and defaults."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import BundleError
from ..core.geometry import Grid
from ..sampling.schedulers import SAMPLERS
from .files import MISSING, bundle_file, check_bundle_folder, file_kind
from .network_fields import check_network_fields

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
INPAINT_DEFAULTS_FIELD = "inpaint"
"""Field of ``sampling_defaults``: what lesion inpainting uses instead of the generation defaults."""
INPAINT_DEFAULT_KEYS = ("guidance_scale", "negative_prompt")
KNOWN_INPAINT_METHODS = ("repaint", "inpaint_unet")
KNOWN_PREDICTION_TYPES = ("epsilon", "v_prediction")


def inpaint_unet_in_channels(latent_channels: int) -> int:
    """Input channels of an inpainting U-Net: the noisy latent, the mask and the masked latent
    (``braingen3d.pipelines.inpaint.methods.INPAINT_UNET_INPUT_ORDER``)."""
    return 2 * latent_channels + 1


@dataclass
class BundleConfig:
    """Everything a bundle declares, parsed from ``config.json``.

    Args:
        bundle_id: stable identifier, e.g. ``braingen3d-small-mni2mm``.
        version: the bundle's own version string.
        name: human-readable name.
        grid: the voxel grid the models work on (shape, spacing, RAS affine).
        autoencoder: keyword arguments of ``monai.networks.nets.AutoencoderKL`` plus ``scale_factor``, or with
            ``kind: "block_pca"`` those of ``braingen3d.models.block_pca_autoencoder.BlockPCAAutoencoder``.
        unet: keyword arguments of ``monai.networks.nets.DiffusionModelUNet``, plus an optional
            ``channel_preconditioning`` (``braingen3d.models.unet``).
        text_encoder: ``id``, ``hidden_size`` and ``max_tokens`` of the prompt encoder, and ``prompt_attributes``
            (``braingen3d.prompts.attributes``; the U-Nets must say the same).
        noise_scheduler: ``num_train_timesteps``, ``beta_schedule``, ``beta_start``, ``beta_end``,
            ``prediction_type`` used in training.
        sampling_defaults: ``sampler``, ``steps`` and ``guidance_scale`` used when the caller gives none, and
            optionally ``inpaint``: the ``guidance_scale`` and ``negative_prompt`` lesion inpainting uses instead
            (``inpaint_defaults``).
        capabilities: ``text`` (bool), ``inpaint`` (list of methods), ``controlnet`` (bool),
            ``structure_guidance`` (bool).
        intensity: how training images were normalised (``method``, ``percentiles``, ``range``).
        modalities: modalities the bundle was trained on.
        inpaint_unet: keyword arguments of the inpainting U-Net, if the bundle has one (the text U-Net's, with
            ``2C + 1`` input channels and optionally ``lesion_attributes``, ``braingen3d.prompts.attributes``).
        controlnet: keyword arguments of ``monai.networks.nets.ControlNet``, if the bundle has one.
        structure_guidance: the structure regressor and its targets (``braingen3d.sampling.structure_guidance``):
            ``structures``, ``output_mean``, ``output_std``, ``regressor`` (``channels``), ``norms``,
            ``guidance_scale``, ``likelihood_sd``, ``enlarged_z``, ``smoothing_voxels``, ``min_guided_timestep``
            and ``max_guided_timestep``.
        training: free-form record of how the bundle was trained.
    """

    bundle_id: str
    version: str
    name: str
    grid: Grid
    autoencoder: dict[str, Any]
    unet: dict[str, Any]
    text_encoder: dict[str, Any]
    noise_scheduler: dict[str, Any]
    sampling_defaults: dict[str, Any]
    capabilities: dict[str, Any]
    intensity: dict[str, Any] = field(default_factory=lambda: {"method": "robust_normalise", "percentiles": [0.5, 99.5], "range": [0.0, 1.0]})
    modalities: list[str] = field(default_factory=lambda: ["T1", "T2", "FLAIR", "PD"])
    inpaint_unet: dict[str, Any] | None = None
    controlnet: dict[str, Any] | None = None
    structure_guidance: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def scale_factor(self) -> float:
        return float(self.autoencoder.get("scale_factor", 1.0))

    @property
    def prediction_type(self) -> str:
        """The U-Net's training target: ``epsilon`` (the default) or ``v_prediction``."""
        return self.noise_scheduler.get("prediction_type", "epsilon")

    @property
    def autoencoder_kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in self.autoencoder.items() if k != "scale_factor"}

    @property
    def latent_shape(self) -> tuple[int, ...]:
        factor = 2 ** (len(self.autoencoder["channels"]) - 1)
        return (int(self.autoencoder["latent_channels"]),) + tuple(s // factor for s in self.grid.shape)

    def supports_inpaint(self, method: str) -> bool:
        return method in self.capabilities.get("inpaint", [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "bundle_id": self.bundle_id,
            "version": self.version,
            "name": self.name,
            "spatial": self.grid.to_dict(),
            "intensity": self.intensity,
            "modalities": self.modalities,
            "autoencoder": self.autoencoder,
            "unet": self.unet,
            "inpaint_unet": self.inpaint_unet,
            "controlnet": self.controlnet,
            "structure_guidance": self.structure_guidance,
            "text_encoder": self.text_encoder,
            "noise_scheduler": self.noise_scheduler,
            "sampling_defaults": self.sampling_defaults,
            "capabilities": self.capabilities,
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BundleConfig":
        data = copy.deepcopy(data)
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise BundleError(
                f"Bundle config field 'format_version' is {version!r}; this engine reads format {FORMAT_VERSION}. "
                "Upgrade braingen3d or re-export the bundle."
            )
        for key in ("bundle_id", "version", "name", "spatial", "autoencoder", "unet", "text_encoder",
                    "noise_scheduler", "sampling_defaults", "capabilities"):
            if key not in data or data[key] in (None, ""):
                raise BundleError(f"Bundle config is missing the field '{key}'. Re-export the bundle with the training scripts.")
        spatial = data["spatial"]
        try:
            affine = np.asarray(spatial["affine"], dtype=float)
            shape = tuple(int(s) for s in spatial["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"Bundle config field 'spatial' needs 'shape' and a 4x4 'affine': {exc}") from exc
        if affine.shape != (4, 4) or len(shape) != 3 or min(shape) < 1:
            raise BundleError("Bundle config field 'spatial' must hold a 3-element 'shape' and a 4x4 'affine'.")
        grid = Grid(shape, affine)
        if "spacing" in spatial and not np.allclose(grid.spacing, spatial["spacing"], atol=1e-4):
            raise BundleError(
                f"Bundle config field 'spatial.spacing' {spatial['spacing']} disagrees with the affine's spacing {grid.spacing}."
            )
        config = cls(
            bundle_id=str(data["bundle_id"]),
            version=str(data["version"]),
            name=str(data["name"]),
            grid=grid,
            autoencoder=data["autoencoder"],
            unet=data["unet"],
            text_encoder=data["text_encoder"],
            noise_scheduler=data["noise_scheduler"],
            sampling_defaults=data["sampling_defaults"],
            capabilities=data["capabilities"],
            intensity=data.get("intensity") or cls.__dataclass_fields__["intensity"].default_factory(),
            modalities=list(data.get("modalities") or []),
            inpaint_unet=data.get("inpaint_unet"),
            controlnet=data.get("controlnet"),
            structure_guidance=data.get("structure_guidance"),
            training=data.get("training") or {},
        )
        config.check_consistency()
        return config

    def inpaint_defaults(self) -> dict[str, Any]:
        """``sampler``, ``steps``, ``guidance_scale`` and ``negative_prompt`` for lesion inpainting: the generation
        defaults, with ``sampling_defaults.inpaint`` over them."""
        defaults = {key: self.sampling_defaults[key] for key in ("sampler", "steps", "guidance_scale")}
        return {**defaults, "negative_prompt": "", **(self.sampling_defaults.get(INPAINT_DEFAULTS_FIELD) or {})}

    def _refuse_unsupported_options(self) -> None:
        """Options this engine does not build, each refused by name before any network is made."""
        if self.autoencoder.get("whiten"):
            raise BundleError("Bundle config field 'autoencoder.whiten' is true; that whitening's decoder read the "
                              "whitened latent, which this engine does not build (its whitening is "
                              "'channel_whitening'). Retrain the bundle with the current configs.")
        for name, net in (("unet", self.unet), ("inpaint_unet", self.inpaint_unet)):
            if net is None:
                continue
            if net.get("pooled_text_conditioning"):
                raise BundleError(f"Bundle config field '{name}.pooled_text_conditioning' is true; this engine does not "
                                  "build U-Nets with pooled text conditioning. Retrain the bundle with the current configs.")
            preconditioning = net.get("channel_preconditioning")
            if isinstance(preconditioning, dict) and preconditioning.get("scale_conditioning"):
                raise BundleError(f"Bundle config field '{name}.channel_preconditioning.scale_conditioning' is true; this "
                                  "engine passes the masked latent unscaled. Retrain the bundle with the current configs.")

    def check_inpaint_unet(self) -> None:
        """Refuse an inpainting U-Net whose input channels do not fit the noisy latent, the mask and the masked latent."""
        expected = inpaint_unet_in_channels(int(self.autoencoder["latent_channels"]))
        channels = (self.inpaint_unet or {}).get("in_channels")
        if channels != expected:
            raise BundleError(
                f"Bundle config field 'inpaint_unet.in_channels' is {channels} but inpainting needs "
                f"{expected} (2 x latent_channels + 1: noisy latent, mask, masked latent). Re-export the bundle."
            )

    def _check_inpaint_defaults(self) -> None:
        field = self.sampling_defaults.get(INPAINT_DEFAULTS_FIELD)
        if field is None:
            return
        name = f"sampling_defaults.{INPAINT_DEFAULTS_FIELD}"
        if not isinstance(field, dict) or set(field) - set(INPAINT_DEFAULT_KEYS):
            raise BundleError(f"Bundle config field '{name}' may hold only {list(INPAINT_DEFAULT_KEYS)}; got {field!r}.")
        guidance = field.get("guidance_scale", 0.0)
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not guidance >= 0:
            raise BundleError(f"Bundle config field '{name}.guidance_scale' must be a number >= 0; got {guidance!r}.")
        if not isinstance(field.get("negative_prompt", ""), str):
            raise BundleError(f"Bundle config field '{name}.negative_prompt' must be text; got {field['negative_prompt']!r}.")

    def check_network_fields(self) -> None:
        """Check every network field's types and ranges (``braingen3d.bundle.network_fields``), before any is built."""
        check_network_fields("autoencoder", self.autoencoder)
        check_network_fields("unet", self.unet)
        if self.inpaint_unet is not None:
            check_network_fields("inpaint_unet", self.inpaint_unet)
        if self.controlnet is not None:
            check_network_fields("controlnet", self.controlnet, channels_required=False)
        guidance = self.structure_guidance
        if self.capabilities.get("structure_guidance") and isinstance(guidance, dict) and "regressor" in guidance:
            check_network_fields("structure_guidance.regressor", guidance["regressor"])

    def check_consistency(self) -> None:
        """Check each network field, then the fields against each other (weights are checked by the loader)."""
        self.check_network_fields()
        self._refuse_unsupported_options()
        latent_channels = self.autoencoder.get("latent_channels")
        appends_attributes = bool(self.text_encoder.get("prompt_attributes", False))
        for name, net in (("unet", self.unet), ("inpaint_unet", self.inpaint_unet)):
            if net is None:
                continue
            if net.get("out_channels") != latent_channels:
                raise BundleError(
                    f"Bundle config field '{name}.out_channels' is {net.get('out_channels')} but "
                    f"'autoencoder.latent_channels' is {latent_channels}; they must match."
                )
            if net.get("cross_attention_dim") != self.text_encoder.get("hidden_size"):
                raise BundleError(
                    f"Bundle config field '{name}.cross_attention_dim' is {net.get('cross_attention_dim')} but the text "
                    f"encoder gives {self.text_encoder.get('hidden_size')}-d states ('text_encoder.hidden_size')."
                )
            reads_attributes = bool(net.get("prompt_attributes", False))
            if reads_attributes != appends_attributes:
                raise BundleError(
                    f"Bundle config field '{name}.prompt_attributes' is {reads_attributes} but "
                    f"'text_encoder.prompt_attributes' is {appends_attributes}; the "
                    "U-Net reads the prompt attribute vectors only when the text encoder gives them. Set both alike."
                )
            if net.get("lesion_attributes") and not reads_attributes:
                raise BundleError(
                    f"Bundle config field '{name}.lesion_attributes' needs '{name}.prompt_attributes: true'; the "
                    "lesion features are entries of the prompt attribute vector."
                )
            if net.get("anatomical_prior") is not None and not reads_attributes:
                raise BundleError(
                    f"Bundle config field '{name}.anatomical_prior' needs '{name}.prompt_attributes: true'; the prior "
                    "is scaled by the prompt's attributes."
                )
            preconditioning = net.get("channel_preconditioning")
            if isinstance(preconditioning, dict) and preconditioning.get("noise_scheduler") != self.noise_scheduler:
                raise BundleError(
                    f"Bundle config field '{name}.channel_preconditioning.noise_scheduler' differs from "
                    "'noise_scheduler'; the U-Net was preconditioned for another schedule. Re-export the bundle."
                )
        if self.unet.get("in_channels") != latent_channels:
            raise BundleError(
                f"Bundle config field 'unet.in_channels' is {self.unet.get('in_channels')} but "
                f"'autoencoder.latent_channels' is {latent_channels}; they must match."
            )
        ae_factor = 2 ** (len(self.autoencoder["channels"]) - 1)
        unet_factor = 2 ** (len(self.unet["channels"]) - 1)
        for size in self.grid.shape:
            if size % (ae_factor * unet_factor):
                raise BundleError(
                    f"Bundle config field 'spatial.shape' {list(self.grid.shape)} must be divisible by "
                    f"{ae_factor * unet_factor} (autoencoder x U-Net downsampling)."
                )
        prediction = self.prediction_type
        if prediction not in KNOWN_PREDICTION_TYPES:
            raise BundleError(
                f"Bundle config field 'noise_scheduler.prediction_type' is {prediction!r}; expected one of {KNOWN_PREDICTION_TYPES}."
            )
        sampler = self.sampling_defaults.get("sampler")
        if sampler not in SAMPLERS:
            raise BundleError(f"Bundle config field 'sampling_defaults.sampler' is {sampler!r}; expected one of {tuple(SAMPLERS)}.")
        self._check_inpaint_defaults()
        unknown = [m for m in self.capabilities.get("inpaint", []) if m not in KNOWN_INPAINT_METHODS]
        if unknown:
            raise BundleError(f"Bundle config field 'capabilities.inpaint' names unknown methods {unknown}; known: {KNOWN_INPAINT_METHODS}.")
        if "inpaint_unet" in self.capabilities.get("inpaint", []) and self.inpaint_unet is None:
            raise BundleError("Bundle config declares capability 'inpaint_unet' but has no 'inpaint_unet' network field.")
        if self.inpaint_unet is not None and self.inpaint_unet.get("in_channels") != inpaint_unet_in_channels(latent_channels):
            raise BundleError(
                f"Bundle config field 'inpaint_unet.in_channels' is {self.inpaint_unet.get('in_channels')}; an inpainting "
                f"U-Net takes [noisy latent, mask, masked latent] = {inpaint_unet_in_channels(latent_channels)} channels."
            )
        if self.capabilities.get("controlnet") and self.controlnet is None:
            raise BundleError("Bundle config declares capability 'controlnet' but has no 'controlnet' network field.")
        if self.capabilities.get("structure_guidance"):
            self._check_structure_guidance()

    def _check_structure_guidance(self) -> None:
        guidance = self.structure_guidance
        if not isinstance(guidance, dict):
            raise BundleError("Bundle config declares capability 'structure_guidance' but has no 'structure_guidance' field.")
        missing = [k for k in ("structures", "output_mean", "output_std", "regressor", "norms", "guidance_scale",
                               "likelihood_sd", "enlarged_z") if k not in guidance]
        if missing:
            raise BundleError(f"Bundle config field 'structure_guidance' is missing {missing}. Re-export the bundle.")
        count = len(guidance["structures"])
        if not count or len(guidance["output_mean"]) != count or len(guidance["output_std"]) != count:
            raise BundleError("Bundle config field 'structure_guidance' needs one 'output_mean' and 'output_std' per structure.")
        unnormed = [s for s in guidance["structures"] if s not in guidance["norms"]]
        if unnormed:
            raise BundleError(f"Bundle config field 'structure_guidance.norms' has no norm for {unnormed}.")


def read_config(bundle_dir: Path) -> BundleConfig:
    """The bundle's config, every field checked (network fields by type and range, then against each other).

    Raises:
        BundleError: the folder or its config.json is missing or not what it should be (saying what it is), or a
            field is wrong (naming it).
    """
    check_bundle_folder(bundle_dir)
    if file_kind(Path(bundle_dir) / CONFIG_NAME) == MISSING:
        raise BundleError(f"No {CONFIG_NAME} in bundle folder {bundle_dir}. Point --bundle at a folder written by the training scripts.")
    path = bundle_file(Path(bundle_dir), CONFIG_NAME)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}). Restore it from the original bundle.") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object.")
    return BundleConfig.from_dict(data)
