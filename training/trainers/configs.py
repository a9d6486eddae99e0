"""Training configurations: a network preset from ``braingen3d.bundle.presets`` plus training hyper-parameters.

A config is a JSON file in ``training/configs/`` (``tiny``, ``small``, ``small_kl``, ``base``, ``large``) or any path.
Command lines refine it with ``--set section.field=value`` (the value is parsed as JSON when it can be).
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from braingen3d.bundle import PRESETS, BundleConfig, preset_config
from braingen3d.core.geometry import mni_grid
from braingen3d.models.anatomical_prior import ANATOMICAL_PRIOR_FIELD
from braingen3d.prompts.attributes import PROMPT_ATTRIBUTES_FLAG

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class TrainingConfigError(ValueError):
    """A training config or command-line override is not acceptable."""


@dataclass
class LoopConfig:
    """What every trainer shares: steps, optimiser schedule, EMA and bookkeeping intervals.

    Args:
        batch_size: samples per micro-batch on each process.
        grad_accum: micro-batches accumulated per optimiser step.
        max_steps: optimiser steps to train for.
        lr: peak learning rate.
        warmup_steps: linear warm-up from 0 to ``lr``.
        min_lr_ratio: the cosine decay ends at ``lr * min_lr_ratio``.
        weight_decay: AdamW weight decay.
        grad_clip: global gradient-norm clip (0 disables).
        ema_decay: decay of the exponential moving average of the weights (exported in the bundle).
        checkpoint_every: steps between checkpoints (one is also written at the end and on SIGTERM/SIGINT).
        keep_checkpoints: numbered checkpoints kept besides ``checkpoint_last.pt``.
        preview_every: steps between preview PNGs (0 disables).
        log_every: steps between TensorBoard/log lines.
        seed: seed of initialisation, sampling and noise.
        cpu_bf16: on CPU, autocast to bf16 when the CPU runs it natively (AVX512-BF16/AMX; about 2.4x
            faster there); ignored elsewhere. CUDA always autocasts.
    """

    batch_size: int = 2
    grad_accum: int = 1
    max_steps: int = 1000
    lr: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    checkpoint_every: int = 100
    keep_checkpoints: int = 1
    preview_every: int = 100
    log_every: int = 10
    seed: int = 0
    cpu_bf16: bool = False


@dataclass
class AutoencoderTrainConfig(LoopConfig):
    """Autoencoder (KL) training on random patches.

    Args:
        patch_size: patch shape (each side divisible by the autoencoder's downsampling factor).
        foreground_bias: probability that a patch is centred on a brain voxel rather than anywhere.
        l1_weight: weight of the L1 reconstruction loss.
        ssim_weight: weight of ``1 - SSIM`` (``monai.losses.SSIMLoss``).
        ssim_win_size: SSIM window (voxels).
        kl_weight: weight of the KL divergence of the posterior from N(0, I).
        logvar_init: initial posterior log-variance (the bias of the log-sigma convolution, its weights
            zeroed). MONAI's default start, sigma near 1, buries the latent in noise, and with a small
            ``kl_weight`` the decoder then learns to blur for a long time. None keeps MONAI's default.
        learn_posterior_variance: train the log-sigma convolution (MONAI's default). False keeps it at
            ``logvar_init``: with AdamW, whose steps do not shrink with the gradient, even a 1e-6 KL weight
            pulled sigma up to about 0.7 against a latent std of about 0.85 within 1300 steps (measured),
            burying the latent in noise, so the decoder learned to blur.
        adv_weight: weight of the patch-adversarial loss (0 disables the discriminator).
        adv_start_step: step from which the discriminator trains and the adversarial term is used.
        adv_criterion: ``least_squares``, ``hinge`` or ``bce`` (``monai.losses.PatchAdversarialLoss``).
        disc_lr: discriminator learning rate.
        disc_channels: channels of the first ``PatchDiscriminator`` layer.
        disc_layers: ``num_layers_d`` of the ``PatchDiscriminator``.
        eval_every: steps between held-out SSIM/PSNR evaluations (0 disables; always run at the end).
        eval_subjects: held-out subjects used by each evaluation.
        pca_volumes: training volumes whose blocks fit a ``block_pca`` autoencoder's projection (spread over
            the training split). Its posterior sigma is fixed at ``logvar_init`` (-8 when None).
        decoder_latent_noise: ``block_pca`` only: before decoding, each training sample's latent channels get
            Gaussian noise whose standard deviation is a level drawn uniformly from 0 to this value times the
            channel's RMS, so the decoder learns to turn a diffusion sampler's latent errors into clean anatomy
            (0: none).
        latent_scaling: how ``scale_factor`` is chosen when the cohort is encoded: ``std`` (1 / std of all
            latent values, as the MONAI tutorial) or ``strongest_channel`` (1 / RMS of the strongest channel,
            for latents whose channels differ in scale, so that no channel stays recognisable at high noise).
    """

    batch_size: int = 2
    lr: float = 5e-4
    patch_size: list[int] = field(default_factory=lambda: [48, 48, 48])
    foreground_bias: float = 0.9
    l1_weight: float = 1.0
    ssim_weight: float = 0.5
    ssim_win_size: int = 7
    kl_weight: float = 1e-6
    logvar_init: float | None = None
    learn_posterior_variance: bool = True
    adv_weight: float = 0.005
    adv_start_step: int = 500
    adv_criterion: str = "least_squares"
    disc_lr: float = 2e-4
    disc_channels: int = 32
    disc_layers: int = 3
    eval_every: int = 500
    eval_subjects: int = 4
    pca_volumes: int = 64
    decoder_latent_noise: float = 0.0
    latent_scaling: str = "std"


LATENT_SCALINGS = ("std", "strongest_channel")
ARCHITECTURE_SECTIONS = ("autoencoder", "unet", "noise_scheduler")


@dataclass
class DiffusionTrainConfig(LoopConfig):
    """Latent diffusion U-Net training on cached latents.

    Args:
        prompt_dropout: probability of replacing a caption by the empty prompt (for classifier-free guidance).
        min_snr_gamma: min-SNR loss weighting gamma (None disables the weighting).
        min_snr_floor: lower clamp of the min-SNR clean-latent weight (None: none; v prediction only,
            since the epsilon weight ``floor / SNR`` explodes at high noise).
        anatomical_prior_lr_scale: learning-rate multiplier of the U-Net's anatomical prior projection
            (``architecture.unet.anatomical_prior``); it starts at zero, and a fine-tune at a small learning
            rate barely moves it.
        anatomical_prior_loss_weight: weight of an extra loss term averaged over the prior's maps (0: none), so
            that errors where the prompt's attributes act count more than the rest of the brain's.
        anatomical_prior_start_step: until this step the prior's projection is not updated (it stays at its
            zero start, so the U-Net trains as without a prior) and its loss term is off. A prior trained from
            step 0 with its loss term kept T1 prompts from forming T1 contrast in 3000 steps; added after
            the contrast had formed, it did not.
        sample_posterior: draw ``z = mu + sigma * eps`` from the cached posterior (else use ``mu``).
        text_cache_size: prompt embeddings kept in memory (captions repeat a lot).
        preview_steps: DPM++ steps of the preview sample.
        preview_guidance: guidance scale of the preview sample.
        preview_prompt: prompt of the preview sample.
    """

    batch_size: int = 8
    lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    checkpoint_every: int = 250
    preview_every: int = 500
    prompt_dropout: float = 0.1
    min_snr_gamma: float | None = 5.0
    min_snr_floor: float | None = None
    anatomical_prior_lr_scale: float = 1.0
    anatomical_prior_loss_weight: float = 0.0
    anatomical_prior_start_step: int = 0
    sample_posterior: bool = True
    text_cache_size: int = 8192
    preview_steps: int = 15
    preview_guidance: float = 3.0
    preview_prompt: str = "T1-weighted MRI of a 70-year-old male brain"


@dataclass
class FineTuneTrainConfig(DiffusionTrainConfig):
    """Defaults shared by the stages that start from a finished diffusion run (inpainting, ControlNet)."""

    max_steps: int = 600
    lr: float = 1e-4
    warmup_steps: int = 50
    checkpoint_every: int = 100
    preview_every: int = 200


@dataclass
class InpaintingTrainConfig(FineTuneTrainConfig):
    """Inpainting U-Net fine-tune from the diffusion run (``training.trainers.inpainting``).

    Args:
        lesion_probability: chance that a sample's mask is its subject's lesions (when it has any);
            otherwise a random ellipsoid anywhere in the brain.
        max_dilation_mm: lesion masks grow by a random margin up to this, as a user's painting would.
        random_radius_mm: (min, max) semi-axes of the random ellipsoids.
        region_loss_weight: weight of the extra loss term inside the mask.
        blob_probability: chance that a lesion mask is an ellipsoid around the lesion (as a user
            paints a blob) rather than the lesion's own dilated shape.
        sham_probability: chance that a mask is a sham: a lesion mask's shape moved into
            lesion-free white matter and captioned "no lesions", so the prompt, not the mask,
            says whether a lesion is there.
        lesion_attributes: the U-Net also reads the prompt's lesion wording (lesion wanted, none wanted,
            its size) through its timestep embedding (``braingen3d.prompts.attributes``); needs a U-Net
            that reads prompt attributes.
        guidance_scale: the exported bundle's inpainting guidance (``sampling_defaults.inpaint``; None: the
            generation default). Like the structure regressor's weight it is read at export, so
            re-exporting with ``--export-only`` changes it without retraining.
        negative_prompt: the exported bundle's inpainting negative prompt (None: the empty prompt); read at export.
    """

    lesion_probability: float = 0.7
    blob_probability: float = 0.0
    sham_probability: float = 0.0
    lesion_attributes: bool = False
    guidance_scale: float | None = None
    negative_prompt: str | None = None
    max_dilation_mm: float = 4.0
    random_radius_mm: list[float] = field(default_factory=lambda: [4.0, 16.0])
    region_loss_weight: float = 4.0
    preview_prompt: str = "a 12 mm white-matter hyperintensity"

    def bundle_defaults(self) -> dict[str, Any] | None:
        """The bundle's ``sampling_defaults.inpaint`` field, or None when neither default is set."""
        defaults = {"guidance_scale": self.guidance_scale, "negative_prompt": self.negative_prompt}
        return {key: value for key, value in defaults.items() if value is not None} or None


@dataclass
class ControlNetTrainConfig(FineTuneTrainConfig):
    """ControlNet training on tissue label maps beside the frozen U-Net (``training.trainers.controlnet``).

    Args:
        max_label: the highest tissue label; maps are divided by it (the bundle records it).
    """

    max_label: int = 5


@dataclass
class StructureRegressorTrainConfig(LoopConfig):
    """Noise-aware structure-volume regressor for structure guidance (``training.trainers.structure_regressor``).

    Args:
        structures: manifest columns (ml) the regressor predicts; each needs a norm in ``norms.json``.
        channels: feature channels per level of ``braingen3d.models.structure_regressor.NoisyLatentVolumeRegressor``.
        validation_fraction: share of training subjects held out to measure the regressor.
        guidance_scale: default weight of the guidance in the exported bundle (0: shipped but off). It is read at
            export, so re-exporting with ``--export-only`` changes it without retraining.
        likelihood_sd: standard deviation (in standardised units) of the guidance likelihood around the target.
        enlarged_z: how many norm standard deviations above the expected volume "enlarged" asks for.
        smoothing_voxels: Gaussian sigma (latent voxels) applied to the guidance gradient; without it the
            gradient finds fine-grained latent changes that move the regressor but not the anatomy.
        max_guided_timestep: no guidance above this timestep (the regressor cannot read pure noise).
        min_guided_timestep: no guidance below this timestep (the anatomy is settled; only texture is left).
        curriculum_steps: over these first steps the highest training timestep grows linearly from
            ``curriculum_start_timestep`` to the schedule's last one (0: all timesteps from the start). On a latent
            whose volumes are hard to read at high noise the regressor otherwise does not start learning in
            its budget.
        curriculum_start_timestep: the highest training timestep at step 0 of the curriculum.
    """

    batch_size: int = 32
    max_steps: int = 1500
    lr: float = 1e-3
    warmup_steps: int = 75
    min_lr_ratio: float = 0.05
    weight_decay: float = 1e-4
    checkpoint_every: int = 250
    preview_every: int = 0
    structures: list[str] = field(default_factory=lambda: ["ventricles_ml"])
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    validation_fraction: float = 0.15
    guidance_scale: float = 3.0
    likelihood_sd: float = 0.1
    enlarged_z: float = 2.0
    smoothing_voxels: float = 1.5
    max_guided_timestep: int = 900
    min_guided_timestep: int = 0
    curriculum_steps: int = 0
    curriculum_start_timestep: int = 300


@dataclass
class TrainingConfig:
    """A complete training configuration.

    Args:
        name: the config's name (``small``...).
        preset: architecture preset in ``braingen3d.bundle.presets.PRESETS``.
        bundle_id: id written into the exported bundle.
        description: one line for the model card.
        grid: optional ``{"shape": [i, j, k], "spacing": mm}`` replacing the preset's grid.
        architecture: optional ``{"autoencoder": {...}, "unet": {...}, "noise_scheduler": {...}}`` merged over
            the preset's networks and noise schedule (e.g. ``noise_scheduler.prediction_type``: ``epsilon``).
        autoencoder: autoencoder training hyper-parameters.
        diffusion: diffusion training hyper-parameters.
        inpainting: inpainting U-Net fine-tune hyper-parameters.
        controlnet: ControlNet (tissue label map) training hyper-parameters.
        structure_regressor: structure-volume regressor (structure guidance) hyper-parameters.
    """

    name: str
    preset: str
    bundle_id: str = ""
    description: str = ""
    grid: dict[str, Any] | None = None
    architecture: dict[str, dict[str, Any]] = field(default_factory=dict)
    autoencoder: AutoencoderTrainConfig = field(default_factory=AutoencoderTrainConfig)
    diffusion: DiffusionTrainConfig = field(default_factory=DiffusionTrainConfig)
    inpainting: InpaintingTrainConfig = field(default_factory=InpaintingTrainConfig)
    controlnet: ControlNetTrainConfig = field(default_factory=ControlNetTrainConfig)
    structure_regressor: StructureRegressorTrainConfig = field(default_factory=StructureRegressorTrainConfig)

    def bundle_config(self) -> BundleConfig:
        """The bundle config (networks, grid, schedule) this training produces, before ``scale_factor`` is known."""
        grid = None
        if self.grid:
            grid = mni_grid(tuple(int(s) for s in self.grid["shape"]), float(self.grid["spacing"]))
        config = preset_config(self.preset, bundle_id=self.bundle_id or f"braingen3d-{self.name}", grid=grid)
        config.name = f"BrainGen3D {self.name}"  # the training config's name: two configs may share a preset
        unknown = sorted(set(self.architecture) - set(ARCHITECTURE_SECTIONS))
        if unknown:
            raise TrainingConfigError(f"Unknown section(s) {unknown} in config field 'architecture'. "
                                      f"Known: {list(ARCHITECTURE_SECTIONS)}.")
        for section in ARCHITECTURE_SECTIONS:
            getattr(config, section).update(copy.deepcopy(self.architecture.get(section, {})))
        # The text encoder gives the attribute vectors exactly when the U-Net reads them.
        config.text_encoder.pop(PROMPT_ATTRIBUTES_FLAG, None)
        if config.unet.get(PROMPT_ATTRIBUTES_FLAG):
            config.text_encoder[PROMPT_ATTRIBUTES_FLAG] = True
        config.check_consistency()
        return config

    @property
    def downsampling(self) -> int:
        """Autoencoder downsampling factor (2 ** (levels - 1))."""
        return 2 ** (len(self.bundle_config().autoencoder["channels"]) - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Refuse configs that cannot train, naming the field."""
        if self.preset not in PRESETS:
            raise TrainingConfigError(f"Config field 'preset' is {self.preset!r}; choose one of {sorted(PRESETS)}.")
        try:
            bundle = self.bundle_config()
        except Exception as exc:  # BundleError, KeyError from a bad override
            raise TrainingConfigError(f"Config fields 'grid'/'architecture' do not give a valid bundle: {exc}") from exc
        if self.autoencoder.latent_scaling not in LATENT_SCALINGS:
            raise TrainingConfigError(f"Config field 'autoencoder.latent_scaling' is {self.autoencoder.latent_scaling!r}; "
                                      f"choose one of {list(LATENT_SCALINGS)}.")
        noise = self.autoencoder.decoder_latent_noise
        if not 0.0 <= noise <= 1.0:
            raise TrainingConfigError(f"Config field 'autoencoder.decoder_latent_noise' is {noise}; use a fraction "
                                      "between 0 and 1 of each latent channel's RMS.")
        if noise > 0 and bundle.autoencoder.get("kind") != "block_pca":
            raise TrainingConfigError("Config field 'autoencoder.decoder_latent_noise' needs a block_pca autoencoder "
                                      "(architecture.autoencoder.kind); set it to 0 for this preset.")
        factor = self.downsampling
        patch = self.autoencoder.patch_size
        if len(patch) != 3 or any(p % factor or p <= 0 for p in patch):
            raise TrainingConfigError(
                f"Config field 'autoencoder.patch_size' {patch} must be 3 positive sizes divisible by {factor} "
                "(the autoencoder's downsampling factor)."
            )
        if any(p > s for p, s in zip(patch, bundle.grid.shape)):
            raise TrainingConfigError(
                f"Config field 'autoencoder.patch_size' {patch} is larger than the grid {list(bundle.grid.shape)}."
            )
        if self.autoencoder.adv_criterion not in ("least_squares", "hinge", "bce"):
            raise TrainingConfigError("Config field 'autoencoder.adv_criterion' must be least_squares, hinge or bce.")
        for name, section in (("autoencoder", self.autoencoder), ("diffusion", self.diffusion), ("inpainting", self.inpainting),
                              ("controlnet", self.controlnet), ("structure_regressor", self.structure_regressor)):
            for key in ("batch_size", "grad_accum", "max_steps", "checkpoint_every", "log_every"):
                if int(getattr(section, key)) < 1:
                    raise TrainingConfigError(f"Config field '{name}.{key}' must be at least 1.")
        guidance = self.inpainting.guidance_scale
        if guidance is not None and (isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or guidance < 0):
            raise TrainingConfigError(f"Config field 'inpainting.guidance_scale' must be a number >= 0 or null; got {guidance!r}.")
        for name, section in (("diffusion", self.diffusion), ("inpainting", self.inpainting), ("controlnet", self.controlnet)):
            if not 0.0 <= section.prompt_dropout < 1.0:
                raise TrainingConfigError(f"Config field '{name}.prompt_dropout' must be in [0, 1).")
            _check_min_snr_floor(name, section, bundle.prediction_type)
            if not section.anatomical_prior_lr_scale > 0:
                raise TrainingConfigError(f"Config field '{name}.anatomical_prior_lr_scale' must be positive.")
            if not section.anatomical_prior_loss_weight >= 0:
                raise TrainingConfigError(f"Config field '{name}.anatomical_prior_loss_weight' must be 0 or more.")
            if not 0 <= int(section.anatomical_prior_start_step) < int(section.max_steps):
                raise TrainingConfigError(f"Config field '{name}.anatomical_prior_start_step' must be 0 or more and "
                                          f"below its max_steps ({section.max_steps}).")
        for key, what in (("anatomical_prior_start_step", "step"), ("anatomical_prior_loss_weight", "weight")):
            if getattr(self.diffusion, key) > 0 and bundle.unet.get(ANATOMICAL_PRIOR_FIELD) is None:
                raise TrainingConfigError(f"Config field 'diffusion.{key}' needs an anatomical prior "
                                          f"('architecture.unet.anatomical_prior'); set the prior or the {what} to 0.")
        if int(self.controlnet.max_label) < 1:
            raise TrainingConfigError("Config field 'controlnet.max_label' must be at least 1.")
        for key in ("lesion_probability", "blob_probability", "sham_probability"):
            if not 0.0 <= getattr(self.inpainting, key) <= 1.0:
                raise TrainingConfigError(f"Config field 'inpainting.{key}' must be in [0, 1].")
        regressor = self.structure_regressor
        if not regressor.structures or not regressor.channels or any(int(c) % 8 for c in regressor.channels):
            raise TrainingConfigError("Config fields 'structure_regressor.structures' and '.channels' must be non-empty; "
                                      "every channel count must be a multiple of 8 (GroupNorm groups).")
        if not 0.0 < regressor.validation_fraction < 0.5 or regressor.likelihood_sd <= 0 or regressor.guidance_scale < 0:
            raise TrainingConfigError("Config field 'structure_regressor': validation_fraction must be in (0, 0.5), "
                                      "likelihood_sd > 0 and guidance_scale >= 0.")
        low, high = (list(self.inpainting.random_radius_mm) + [0, 0])[:2]
        if len(self.inpainting.random_radius_mm) != 2 or not 0 < low <= high:
            raise TrainingConfigError("Config field 'inpainting.random_radius_mm' must be [min, max] with 0 < min <= max.")


def _check_min_snr_floor(name: str, section: DiffusionTrainConfig, prediction_type: str) -> None:
    floor = section.min_snr_floor
    if floor is None:
        return
    if section.min_snr_gamma is None or not 0.0 < floor <= section.min_snr_gamma:
        raise TrainingConfigError(f"Config field '{name}.min_snr_floor' is {floor}; it needs '{name}.min_snr_gamma' "
                                  "and must lie in (0, min_snr_gamma], or be null.")
    if prediction_type != "v_prediction":
        raise TrainingConfigError(f"Config field '{name}.min_snr_floor' needs v prediction (the noise scheduler's "
                                  f"prediction_type is {prediction_type!r}); set it to null or predict v.")


def _section(cls: type, data: dict[str, Any], name: str):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrainingConfigError(f"Unknown field(s) {unknown} in config section '{name}'. Known: {sorted(known)}.")
    return cls(**data)


def config_from_dict(data: dict[str, Any]) -> TrainingConfig:
    """Build and validate a ``TrainingConfig`` from plain JSON data."""
    data = copy.deepcopy(data)
    known = {f.name for f in fields(TrainingConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrainingConfigError(f"Unknown top-level config field(s) {unknown}. Known: {sorted(known)}.")
    if "name" not in data or "preset" not in data:
        raise TrainingConfigError("A training config needs 'name' and 'preset'.")
    config = TrainingConfig(
        name=data["name"],
        preset=data["preset"],
        bundle_id=data.get("bundle_id", ""),
        description=data.get("description", ""),
        grid=data.get("grid"),
        architecture=data.get("architecture") or {},
        autoencoder=_section(AutoencoderTrainConfig, data.get("autoencoder") or {}, "autoencoder"),
        diffusion=_section(DiffusionTrainConfig, data.get("diffusion") or {}, "diffusion"),
        inpainting=_section(InpaintingTrainConfig, data.get("inpainting") or {}, "inpainting"),
        controlnet=_section(ControlNetTrainConfig, data.get("controlnet") or {}, "controlnet"),
        structure_regressor=_section(StructureRegressorTrainConfig, data.get("structure_regressor") or {},
                                     "structure_regressor"),
    )
    config.validate()
    return config


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.field=value`` overrides (value parsed as JSON when possible) to config data."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise TrainingConfigError(f"Override {item!r} must look like section.field=value, e.g. autoencoder.max_steps=10.")
        path, value = item.split("=", 1)
        keys = path.strip().split(".")
        target = data
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise TrainingConfigError(f"Override {item!r}: '{key}' is not a section.")
        target[keys[-1]] = _parse_value(value)
    return data


def load_config(name_or_path: str, overrides: list[str] | None = None) -> TrainingConfig:
    """Load ``training/configs/<name>.json`` (or a JSON file path) and apply overrides.

    Args:
        name_or_path: ``tiny``, ``small`` (the default), ``small_kl``, ``base``, ``large`` or a path to a JSON file.
        overrides: ``section.field=value`` strings.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.json"
    if not path.is_file():
        available = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
        raise TrainingConfigError(f"No training config {name_or_path!r} (looked for {path}). Available: {available}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TrainingConfigError(f"{path} is not valid JSON: {exc}") from exc
    return config_from_dict(apply_overrides(data, overrides or []))
