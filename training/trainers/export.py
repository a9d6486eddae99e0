"""Export a finished autoencoder + diffusion run as a bundle the engine loads (``braingen3d.bundle.save_bundle``).

The bundle holds ``config.json`` (the preset's networks and grid, ``autoencoder.scale_factor`` and a
``training`` record), the EMA weights of both networks as safetensors, and a ``README.md`` model card
whose quality section stays marked "not yet measured" until the quality report fills it.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
from pathlib import Path
from typing import Any

import torch

from braingen3d import __version__ as engine_version
from braingen3d.bundle import save_bundle
from braingen3d.bundle.config import INPAINT_DEFAULTS_FIELD
from braingen3d.bundle.weights import load_into, load_weights
from braingen3d.models.anatomical_prior import ANATOMICAL_PRIOR_FIELD
from braingen3d.models.builders import build_unet
from braingen3d.models.unet import PRECONDITIONING_FIELD
from braingen3d.prompts.attributes import LESION_ATTRIBUTES_FLAG, PROMPT_ATTRIBUTES_FLAG

from .autoencoder import final_dir, read_final_record
from .configs import config_from_dict
from .diffusion import FINAL_RECORD as DIFFUSION_RECORD
from .diffusion import UNET_WEIGHTS, load_trained_autoencoder

logger = logging.getLogger(__name__)

QUALITY_PLACEHOLDER = "## Measured quality\n\n**Not yet measured.** The quality report fills this section."


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"


def _display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies inside it (cards should not leak home folders)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def initialisation_runs(diffusion: dict[str, Any]) -> list[dict[str, Any]]:
    """The diffusion runs ``diffusion`` continued from (``--init-from``, transitively), earliest first.

    Each is the run's summary plus ``run`` (its folder); a folder without its final record (moved or
    deleted) ends the chain as ``{"run": ..., "missing": True}``, so the card can say so.
    """
    runs: list[dict[str, Any]] = []
    source, seen = diffusion.get("initialised_from"), set()
    while source and source not in seen:
        seen.add(source)
        path = final_dir(source) / DIFFUSION_RECORD
        if not path.is_file():
            logger.warning("The diffusion run was initialised from %s, which has no %s any more; the card cannot "
                           "state that run's steps and wall time.", source, DIFFUSION_RECORD)
            runs.append({"run": _display_path(source), "missing": True})
            break
        record = json.loads(path.read_text(encoding="utf-8"))
        runs.append({"run": _display_path(source), **_run_summary(record)})
        source = record.get("initialised_from")
    return runs[::-1]


def training_record(ae: dict[str, Any], diffusion: dict[str, Any]) -> dict[str, Any]:
    """The bundle config's ``training`` field: data, steps, wall time, final losses and held-out AE quality."""
    return {
        "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "engine_version": engine_version,
        "torch_version": torch.__version__,
        "machine": platform.machine(),
        "config": diffusion["config"]["name"],
        "data": {
            "manifest": _display_path(diffusion["manifest"]),
            "datasets": diffusion["datasets"],
            "modalities": diffusion["modalities"],
            "training_volumes": diffusion["num_training_latents"],
            "caption_builder": diffusion["caption_builder"],
        },
        "autoencoder": {**_run_summary(ae), "held_out_reconstruction": ae["held_out"]},
        "diffusion": {
            **_run_summary(diffusion),
            "prediction_type": diffusion["prediction_type"],
            "prompt_dropout": diffusion["config"]["diffusion"]["prompt_dropout"],
            "min_snr_gamma": diffusion["config"]["diffusion"]["min_snr_gamma"],
            "min_snr_floor": diffusion["config"]["diffusion"].get("min_snr_floor"),
        },
        "diffusion_initialisation": initialisation_runs(diffusion),
        "hyperparameters": {**diffusion["config"], "autoencoder": ae["config"]["autoencoder"]},
    }


def model_card(config, record: dict[str, Any]) -> str:
    """The bundle's ``README.md``."""
    data, ae, diff = record["data"], record["autoencoder"], record["diffusion"]
    held = ae["held_out_reconstruction"]
    shape = " x ".join(str(s) for s in config.grid.shape)
    spacing = config.grid.spacing[0]
    timestep_conditioning = ""
    if config.unet.get(PROMPT_ATTRIBUTES_FLAG):
        timestep_conditioning += (", and the modality, age, sex and ventricle finding the prompt names through the "
                                  "timestep embedding (`prompt_attributes`)")
    prior = config.unet.get(ANATOMICAL_PRIOR_FIELD)
    if prior:
        timestep_conditioning += (f", and those facts where the template's {' and '.join(prior['structures'])} lie, "
                                  "after its first convolution (`anatomical_prior`)")
    return f"""# {config.name} ({config.bundle_id} {config.version})

Text-conditioned 3D latent diffusion model for **synthetic** brain MRI, {shape} voxels at {spacing:g} mm
(MNI152-aligned RAS grid), intensities in [0, 1]. Every output is synthetic and must be labelled so.
Research use only; not for diagnosis.

## Model

- Autoencoder: {_autoencoder_kind(config)}, channels {config.autoencoder['channels']}, latent channels
  {config.autoencoder['latent_channels']}, latent {list(config.latent_shape)}, `scale_factor` {config.scale_factor:.5f}.
- U-Net: MONAI `DiffusionModelUNet`, channels {config.unet['channels']}, cross-attention on
  {config.text_encoder['id']} token states ({config.text_encoder['hidden_size']}-d, {config.text_encoder['max_tokens']} tokens){timestep_conditioning}.
- Noise schedule: {config.noise_scheduler['beta_schedule']} betas {config.noise_scheduler['beta_start']}-{config.noise_scheduler['beta_end']},
  {config.noise_scheduler['num_train_timesteps']} steps, `{diff['prediction_type']}` target; prompt dropout
  {diff['prompt_dropout']} for classifier-free guidance.
{_structure_guidance_lines(config, record)}{_inpainting_lines(config)}- Weights: exponential moving averages, safetensors, stored as {record.get('weights_dtype', 'float32')}
  (loaded as float32).

## Training data

- Manifest: `{data['manifest']}`; datasets: {', '.join(data['datasets']) or 'unknown'}.
- {data['training_volumes']} training volumes; modalities {', '.join(data['modalities'])}.
- Captions: {data['caption_builder']}, a new paraphrase drawn every time a volume is sampled.
{_population_statement(data['datasets'])}
## Training

| stage | steps | wall time | device | processes | final losses |
| --- | --- | --- | --- | --- | --- |
{_stage_row('autoencoder', ae)}{_diffusion_rows(record)}{_extra_stage_rows(record)}
Total training wall time: {_hours(_total_seconds(record))}{_missing_time_note(record)}.

Autoencoder reconstruction of {held['subjects']} held-out volume(s), measured by the trainer inside the
brain mask: SSIM {held['ssim']:.4f} (worst {held['ssim_min']:.4f}), PSNR {held['psnr']:.2f} dB (worst {held['psnr_min']:.2f} dB).

Exported {record['exported']} with braingen3d {record['engine_version']}, torch {record['torch_version']}.
Full hyper-parameters: `training.hyperparameters` in `config.json`.

{QUALITY_PLACEHOLDER}
"""


def _population_statement(datasets: list[str]) -> str:
    from ..cohort.generate import DATASET_NAME

    if DATASET_NAME not in datasets:
        return ""
    return (
        "\n**A demonstration model of a template-derived population, not of real patients.** Its training\n"
        "subjects were derived from the MNI152 2009 templates (shipped in nilearn) by `training/cohort`:\n"
        "smooth random deformations, age-like atrophy, sex-like size, rendered T1/T2/FLAIR/PD contrasts\n"
        "and synthetic white-matter lesions. It has never seen a real scan, so it cannot show real\n"
        "anatomical variability, pathology or scanner appearance. Train on a real cohort for that.\n"
    )


def _autoencoder_kind(config) -> str:
    if config.autoencoder.get("kind") == "block_pca":
        return ("`BlockPCAAutoencoder` (fixed orthonormal block-PCA encoder; decoder = PCA inverse + a trained MONAI "
                "`Decoder` correction)")
    return "MONAI `AutoencoderKL`"


def _structure_guidance_lines(config, record: dict[str, Any]) -> str:
    guidance = config.structure_guidance
    if not guidance:
        return ""
    held = record["structure_regressor"]["validation"]
    scores = {t: v[guidance["structures"][0]]["r2"] for t, v in held["by_timestep"].items()}
    r2 = ", ".join(f"t={t}: " + ("n/a" if r is None else f"{r:.2f}") for t, r in scores.items())
    return (f"- Structure guidance: a noise-aware regressor of {', '.join(guidance['structures'])} from the latent steers\n"
            f"  sampling towards the volume the prompt implies (age/sex norm, +{guidance['enlarged_z']:g} SD for \"enlarged\"),\n"
            f"  {_guidance_default(guidance['guidance_scale'])}. Held-out R²\n"
            f"  ({held['subjects']} subjects): {r2}.\n")


def _guidance_default(scale: float) -> str:
    if scale > 0:
        return f"weight {scale:g} by default (`--structure-guidance 0` turns it off)"
    return "off by default (`--structure-guidance 3` turns it on)"


def _inpainting_lines(config) -> str:
    methods = (config.capabilities or {}).get("inpaint") or []
    if not methods:
        return ""
    lesions = (", reading also the prompt's lesion wording\n  through its timestep embedding (`lesion_attributes`)"
               if (config.inpaint_unet or {}).get(LESION_ATTRIBUTES_FLAG) else "")
    unet = ("an inpainting U-Net (the text U-Net fine-tuned with the mask\n  and the masked latent as extra input "
            f"channels{lesions})" if "inpaint_unet" in methods else "")
    repaint = "RePaint with the text U-Net" if "repaint" in methods else ""
    defaults = config.sampling_defaults.get(INPAINT_DEFAULTS_FIELD) or {}
    own = [f"guidance {defaults['guidance_scale']:g}" if "guidance_scale" in defaults else "",
           f"negative prompt \"{defaults['negative_prompt']}\"" if defaults.get("negative_prompt") else ""]
    own_line = (f"  Inpainting defaults to {' and '.join(o for o in own if o)} (`sampling_defaults.inpaint`).\n"
                if any(own) else "")
    return (f"- Lesion inpainting: {' or '.join(m for m in (unet, repaint) if m)}.\n  The engine checks the "
            "contrast the prompt asks for and retries up to 3 seeds (`--attempts`; docs/inpainting.md).\n" + own_line)


def _stage_row(label: str, stage: dict[str, Any]) -> str:
    return (f"| {label} | {stage['steps']} | {_hours(stage['wall_seconds'])} | {stage['device']} | "
            f"{stage['processes']} | {_losses(stage['final_losses'])} |\n")


def _diffusion_rows(record: dict[str, Any]) -> str:
    """The diffusion run, after the runs it continued from (``--init-from``), one row each."""
    earlier = record.get("diffusion_initialisation") or []
    rows = []
    for run in earlier:
        if run.get("missing"):
            rows.append(f"| diffusion, earlier run `{run['run']}` | not found at export | - | - | - | - |\n")
        else:
            rows.append(_stage_row(f"diffusion, earlier run `{run['run']}`", run))
    label = "diffusion, continued from the row above (`--init-from`)" if earlier else "diffusion"
    return "".join(rows) + _stage_row(label, record["diffusion"])


def _missing_time_note(record: dict[str, Any]) -> str:
    missing = any(run.get("missing") for run in record.get("diffusion_initialisation") or [])
    return ", without an earlier diffusion run whose record was not found" if missing else ""


def _extra_stage_rows(record: dict[str, Any]) -> str:
    rows = []
    for key, label in (("decoder", "decoder (trained after the U-Net, same encoder)"),
                       ("inpainting", "inpainting U-Net (fine-tune)"), ("controlnet", "ControlNet (tissue labels)"),
                       ("structure_regressor", "structure regressor (guidance)")):
        stage = record.get(key)
        if stage:
            rows.append(_stage_row(label, stage))
    return "".join(rows)


def _total_seconds(record: dict[str, Any]) -> float:
    stages = ("autoencoder", "diffusion", "decoder", "inpainting", "controlnet", "structure_regressor")
    earlier = sum(run["wall_seconds"] for run in record.get("diffusion_initialisation") or [] if not run.get("missing"))
    return earlier + sum(record[stage]["wall_seconds"] for stage in stages if record.get(stage))


def _losses(values: dict[str, float]) -> str:
    keys = [k for k in ("loss", "l1", "ssim", "mse") if k in values]
    return ", ".join(f"{k} {values[k]:.4g}" for k in keys) or "-"


def _fine_tune_record(record: dict[str, Any] | None, run_dir: str | Path, diffusion_dir: str | Path,
                      stage: str) -> dict[str, Any]:
    """``record`` of a finished inpainting/ControlNet run, refused unless it started from ``diffusion_dir``'s U-Net."""
    from .fine_tune import diffusion_unet_digest

    if record is None or record.get("diffusion_sha256") != diffusion_unet_digest(diffusion_dir):
        raise FileNotFoundError(
            f"{run_dir} is not a finished {stage} run on the U-Net of {diffusion_dir}. "
            f"Run python -m training.train_{stage} with these --autoencoder and --diffusion folders first."
        )
    return record


def _run_summary(record: dict[str, Any]) -> dict[str, Any]:
    """Steps, wall time, device, processes and final losses of a finished stage's record."""
    return {
        "steps": record["steps"],
        "wall_seconds": round(record["training_seconds"], 1),
        "device": record["device"],
        "processes": record["world_size"],
        "final_losses": record["final_losses"],
    }


def _stage_summary(record: dict[str, Any], section: str) -> dict[str, Any]:
    """The bundle's ``training.<section>`` entry from a finished fine-tune stage's record."""
    return {**_run_summary(record), "hyperparameters": record["config"][section]}


def _load_structure_regressor(run_dir: str | Path, autoencoder_dir: str | Path, config,
                              guidance_scale: float | None = None) -> torch.nn.Module:
    """The finished regressor run's network; fills ``config.structure_guidance`` and its training record."""
    from braingen3d.models.builders import build_structure_regressor

    from .autoencoder import FINAL_WEIGHTS as AE_WEIGHTS
    from .latents import file_digest
    from .structure_regressor import REGRESSOR_WEIGHTS, read_regressor_record

    # The regressor trainer refuses a latent cache not encoded with these weights, so their digest
    # identifies its latents without loading the whole cache.
    record = read_regressor_record(run_dir)
    if record is None or record["autoencoder_sha256"] != file_digest(final_dir(autoencoder_dir) / AE_WEIGHTS):
        raise FileNotFoundError(f"{run_dir} is not a finished structure-regressor run on this autoencoder's latents. "
                                "Run python -m training.train_structure_regressor with the same --autoencoder first.")
    config.structure_guidance = dict(record["guidance"])
    if guidance_scale is not None:
        config.structure_guidance["guidance_scale"] = float(guidance_scale)
    config.capabilities["structure_guidance"] = True
    config.training["structure_regressor"] = {**_run_summary(record), "validation": record["validation"]}
    network = build_structure_regressor(record["guidance"], config.latent_shape[0])
    load_into(network, load_weights(final_dir(run_dir) / REGRESSOR_WEIGHTS), "structure_guidance", REGRESSOR_WEIGHTS)
    return network.eval()


ENCODER_BUFFERS = ("block_basis", "channel_scale")


def _autoencoder_with_decoder(autoencoder_dir: str | Path, decoder_dir: str | Path, config) -> torch.nn.Module:
    """The ``decoder_dir`` run's autoencoder, checked to share ``autoencoder_dir``'s fixed encoder; sets the
    bundle's decoder architecture and the card's ``decoder`` stage."""
    from .autoencoder import FINAL_WEIGHTS as AE_WEIGHTS

    record = read_final_record(decoder_dir)
    if record is None:
        raise FileNotFoundError(f"{decoder_dir} is not a finished autoencoder run (no final/autoencoder.json); "
                                "finish its training (or --resume it) first.")
    if record["autoencoder"].get("kind") != "block_pca" or config.autoencoder.get("kind") != "block_pca":
        raise ValueError("A separate decoder run needs block_pca autoencoders (a fixed encoder); "
                         f"{decoder_dir} or {autoencoder_dir} is not one.")
    encoder = load_weights(final_dir(autoencoder_dir) / AE_WEIGHTS)
    decoder = load_weights(final_dir(decoder_dir) / AE_WEIGHTS)
    for name in ENCODER_BUFFERS:
        if encoder[name].shape != decoder[name].shape or not torch.equal(encoder[name].float(), decoder[name].float()):
            raise ValueError(f"The decoder run {decoder_dir} has another encoder ({name}) than {autoencoder_dir}, "
                             "so the U-Net's latents would not match: train it with the same config's grid, "
                             "latent_channels and pca_volumes on the same cohort.")
    scale = config.autoencoder["scale_factor"]
    config.autoencoder.update({k: v for k, v in record["autoencoder"].items() if k != "scale_factor"})
    config.autoencoder["scale_factor"] = scale
    config.training["decoder"] = {**_run_summary(record), "held_out": record["held_out"],
                                  "hyperparameters": record["config"]["autoencoder"]}
    return load_trained_autoencoder(decoder_dir, config.autoencoder_kwargs)


def export_bundle(autoencoder_dir: str | Path, diffusion_dir: str | Path, target: str | Path,
                  version: str = "0.1.0", overwrite: bool = False, inpainting_dir: str | Path | None = None,
                  controlnet_dir: str | Path | None = None, weights_dtype: str = "float32",
                  structure_regressor_dir: str | Path | None = None,
                  structure_guidance_scale: float | None = None,
                  inpaint_defaults: dict[str, Any] | None = None, decoder_dir: str | Path | None = None) -> Path:
    """Write a bundle from a finished autoencoder run and a finished diffusion run.

    Args:
        autoencoder_dir: the autoencoder run folder (``final/autoencoder.json`` present).
        diffusion_dir: the diffusion run folder (``final/diffusion.json`` present).
        target: the bundle folder to write (atomically).
        version: the bundle's version string.
        overwrite: replace an existing bundle folder.
        inpainting_dir: optional finished inpainting run (``final/inpainting.json``): the bundle then
            ships its U-Net and offers ``inpaint_unet`` besides ``repaint``.
        controlnet_dir: optional finished ControlNet run (``final/controlnet.json``): the bundle then
            ships its ControlNet and declares ``capabilities.controlnet``.
        weights_dtype: ``float32``, or ``float16`` for half-size weight files (loaded back as float32).
        structure_regressor_dir: optional finished structure-regressor run (``final/structure_regressor.json``)
            on the same autoencoder: the bundle then ships it and declares ``capabilities.structure_guidance``.
        structure_guidance_scale: the bundle's default structure-guidance weight (0: shipped but off);
            None keeps the weight the regressor run was trained with.
        inpaint_defaults: the guidance and negative prompt inpainting uses instead of the generation defaults
            (``sampling_defaults.inpaint``; ``InpaintingTrainConfig.bundle_defaults``); only with ``inpainting_dir``.
        decoder_dir: optional finished ``block_pca`` autoencoder run whose decoder the bundle ships instead of
            ``autoencoder_dir``'s (a decoder trained longer or wider after the U-Net). Its fixed encoder must
            equal ``autoencoder_dir``'s, so the latents the U-Net learnt are unchanged.
    """
    ae_record = read_final_record(autoencoder_dir)
    diffusion_path = final_dir(diffusion_dir) / DIFFUSION_RECORD
    if ae_record is None or not diffusion_path.is_file():
        raise FileNotFoundError(
            f"Export needs finished runs: {final_dir(autoencoder_dir)}/autoencoder.json and {diffusion_path}. "
            "Finish training (or --resume it) first."
        )
    diffusion_record = json.loads(diffusion_path.read_text(encoding="utf-8"))
    training = config_from_dict(diffusion_record["config"])
    config = training.bundle_config()
    config.version = version
    config.autoencoder["scale_factor"] = float(diffusion_record["scale_factor"])
    for field in (PRECONDITIONING_FIELD, ANATOMICAL_PRIOR_FIELD):
        if field in diffusion_record:
            config.unet[field] = diffusion_record[field]
    config.modalities = diffusion_record["modalities"] or config.modalities
    config.training = training_record(ae_record, diffusion_record)
    if training.description:
        config.training["description"] = training.description
    inpaint_unet = None
    if inpainting_dir is not None:
        from .inpainting import load_trained_inpaint_unet, read_inpainting_record

        record = _fine_tune_record(read_inpainting_record(inpainting_dir), inpainting_dir, diffusion_dir, "inpainting")
        inpaint_unet, config.inpaint_unet = load_trained_inpaint_unet(inpainting_dir)
        config.capabilities["inpaint"] = ["inpaint_unet", "repaint"]
        config.training["inpainting"] = _stage_summary(record, "inpainting")
        if inpaint_defaults:
            config.sampling_defaults[INPAINT_DEFAULTS_FIELD] = dict(inpaint_defaults)
    controlnet = None
    if controlnet_dir is not None:
        from .controlnet import load_trained_controlnet, read_controlnet_record

        record = _fine_tune_record(read_controlnet_record(controlnet_dir), controlnet_dir, diffusion_dir, "controlnet")
        controlnet, config.controlnet = load_trained_controlnet(controlnet_dir)
        config.capabilities["controlnet"] = True
        config.training["controlnet"] = _stage_summary(record, "controlnet")
    structure_regressor = None
    if structure_regressor_dir is not None:
        structure_regressor = _load_structure_regressor(structure_regressor_dir, autoencoder_dir, config,
                                                        structure_guidance_scale)
    if decoder_dir is None:
        autoencoder = load_trained_autoencoder(autoencoder_dir, config.autoencoder_kwargs)
    else:
        autoencoder = _autoencoder_with_decoder(autoencoder_dir, decoder_dir, config)
    unet = build_unet(config.unet)
    load_into(unet, load_weights(final_dir(diffusion_dir) / UNET_WEIGHTS), "unet", UNET_WEIGHTS)
    config.training["weights_dtype"] = weights_dtype
    path = save_bundle(target, config, autoencoder, unet, model_card(config, config.training), overwrite=overwrite,
                       inpaint_unet=inpaint_unet, controlnet=controlnet, structure_regressor=structure_regressor,
                       weights_dtype=weights_dtype)
    logger.info("Exported bundle %s %s to %s", config.bundle_id, version, path)
    return path
