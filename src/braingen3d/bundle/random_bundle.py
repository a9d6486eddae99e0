"""Randomly initialised bundles, for tests and timing only: they do not make brains."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..models.builders import build_autoencoder, build_controlnet, build_unet
from ..models.controlnet import controlnet_kwargs
from .bundle import save_bundle
from .config import BundleConfig
from .presets import controlnet_config, preset_config

RANDOM_CARD = """# {name} (random weights)

Randomly initialised networks with the `{preset}` architecture. This bundle exists for tests and
timing. It does not generate brains.
"""


def _randomise_zero_weights(module: torch.nn.Module, std: float = 0.05) -> None:
    # MONAI zero-initialises output and attention projections (so training starts as identity);
    # a test bundle must respond to its inputs, so those weights get small random values.
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.ndim > 1 and not parameter.any():
                parameter.normal_(0.0, std)


def make_random_bundle(path: str | os.PathLike, preset: str = "tiny", seed: int = 0, overwrite: bool = False,
                       config: BundleConfig | None = None, with_controlnet: bool = False) -> Path:
    """Write a bundle with random weights for ``preset`` (or the given ``config``) at ``path``."""
    config = config or preset_config(preset, bundle_id=f"random-{preset}", version="0.0.0")
    if with_controlnet:
        config.controlnet = controlnet_config(config)
        config.capabilities = {**config.capabilities, "controlnet": True}
    torch.manual_seed(seed)
    autoencoder = build_autoencoder(config.autoencoder_kwargs)
    unet = build_unet(config.unet)
    _randomise_zero_weights(unet)
    controlnet = None
    if config.controlnet is not None:
        controlnet = build_controlnet(controlnet_kwargs(config.controlnet))
        _randomise_zero_weights(controlnet)
    card = RANDOM_CARD.format(name=config.name, preset=preset)
    return save_bundle(path, config, autoencoder, unet, card, controlnet=controlnet, overwrite=overwrite)
