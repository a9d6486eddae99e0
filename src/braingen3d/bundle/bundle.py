"""Loading and saving model bundles (a folder: config.json, *.safetensors, README.md card)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.errors import BundleError
from ..io.atomic import atomic_directory
from ..models.builders import build_autoencoder, build_controlnet, build_structure_regressor, build_unet
from .config import CARD_NAME, CONFIG_NAME, BundleConfig, read_config
from .files import (
    AUTOENCODER_FILE,
    CONTROLNET_FILE,
    INPAINT_UNET_FILE,
    STRUCTURE_REGRESSOR_FILE,
    UNET_FILE,
    bundle_file,
    check_bundle_folder,
)
from .inspection import check_size, network_skeletons
from .locations import default_bundle_path
from .weights import load_into, load_weights, save_weights

logger = logging.getLogger(__name__)


@dataclass
class Bundle:
    """A loaded bundle: its config, card and networks (in eval mode, on CPU until moved)."""

    path: Path
    config: BundleConfig
    card: str
    autoencoder: torch.nn.Module
    unet: torch.nn.Module
    inpaint_unet: torch.nn.Module | None = None
    controlnet: torch.nn.Module | None = None
    structure_regressor: torch.nn.Module | None = None

    def to(self, device: torch.device) -> "Bundle":
        for net in (self.autoencoder, self.unet, self.inpaint_unet, self.controlnet, self.structure_regressor):
            if net is not None:
                net.to(device)
        return self


def _load_net(module: torch.nn.Module, bundle_dir: Path, filename: str, field: str) -> torch.nn.Module:
    load_into(module, load_weights(bundle_file(bundle_dir, filename)), field, filename)
    return module.float().eval().requires_grad_(False)


def load_bundle(path: str | os.PathLike | None = None, flash_attention: bool = True) -> Bundle:
    """Load and validate a bundle folder; every mismatch raises ``BundleError`` naming the field.

    The config is checked field by field and the networks it declares are sized (on the meta device) before
    any is built, so an absurd config is refused before anything is allocated.
    """
    bundle_dir = check_bundle_folder(Path(path) if path is not None else default_bundle_path())
    config = read_config(bundle_dir)
    check_size(network_skeletons(config))
    card = bundle_file(bundle_dir, CARD_NAME, required=False)
    try:
        autoencoder = build_autoencoder(config.autoencoder_kwargs)
        unet = build_unet(config.unet, flash_attention)
    except (TypeError, ValueError, AssertionError) as exc:
        raise BundleError(f"Bundle config fields 'autoencoder'/'unet' cannot build a network: {exc}") from exc
    bundle = Bundle(
        path=bundle_dir,
        config=config,
        card=card.read_text(encoding="utf-8") if card is not None else "",
        autoencoder=_load_net(autoencoder, bundle_dir, AUTOENCODER_FILE, "autoencoder"),
        unet=_load_net(unet, bundle_dir, UNET_FILE, "unet"),
    )
    if config.inpaint_unet is not None and bundle_file(bundle_dir, INPAINT_UNET_FILE, required=False) is not None:
        bundle.inpaint_unet = _load_net(build_unet(config.inpaint_unet, flash_attention), bundle_dir, INPAINT_UNET_FILE, "inpaint_unet")
    elif config.supports_inpaint("inpaint_unet"):
        raise BundleError(f"Bundle declares capability 'inpaint_unet' but {INPAINT_UNET_FILE} is missing.")
    if config.capabilities.get("controlnet"):
        from ..models.controlnet import controlnet_kwargs

        bundle.controlnet = _load_net(build_controlnet(controlnet_kwargs(config.controlnet), flash_attention), bundle_dir,
                                      CONTROLNET_FILE, "controlnet")
    if config.capabilities.get("structure_guidance"):
        regressor = build_structure_regressor(config.structure_guidance, config.latent_shape[0])
        bundle.structure_regressor = _load_net(regressor, bundle_dir, STRUCTURE_REGRESSOR_FILE, "structure_guidance")
    logger.info("Loaded bundle %s %s from %s", config.bundle_id, config.version, bundle_dir)
    return bundle


def save_bundle(
    path: str | os.PathLike,
    config: BundleConfig,
    autoencoder: torch.nn.Module,
    unet: torch.nn.Module,
    card: str,
    inpaint_unet: torch.nn.Module | None = None,
    controlnet: torch.nn.Module | None = None,
    structure_regressor: torch.nn.Module | None = None,
    overwrite: bool = False,
    weights_dtype: str = "float32",
) -> Path:
    """Write a bundle folder atomically (a temporary sibling folder, then a rename).

    ``weights_dtype="float16"`` stores the weights at half size; they load back as float32.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise BundleError(f"{target} already exists; pass overwrite=True to replace it.")
    config.check_consistency()
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(target, overwrite=overwrite) as staging:
        (staging / CONFIG_NAME).write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
        (staging / CARD_NAME).write_text(card, encoding="utf-8")
        save_weights(autoencoder.state_dict(), staging / AUTOENCODER_FILE, weights_dtype)
        save_weights(unet.state_dict(), staging / UNET_FILE, weights_dtype)
        if inpaint_unet is not None:
            save_weights(inpaint_unet.state_dict(), staging / INPAINT_UNET_FILE, weights_dtype)
        if controlnet is not None:
            save_weights(controlnet.state_dict(), staging / CONTROLNET_FILE, weights_dtype)
        if structure_regressor is not None:
            save_weights(structure_regressor.state_dict(), staging / STRUCTURE_REGRESSOR_FILE, weights_dtype)
    return target
