"""What a bundle's networks would be, without building them: their shapes and size, and whether the weight files
fit them. Networks are built on torch's ``meta`` device, which records shapes and allocates nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..core.errors import BundleError
from ..models.builders import build_autoencoder, build_controlnet, build_structure_regressor, build_unet
from .config import CARD_NAME, BundleConfig, read_config
from .files import (
    AUTOENCODER_FILE,
    CONTROLNET_FILE,
    INPAINT_UNET_FILE,
    STRUCTURE_REGRESSOR_FILE,
    UNET_FILE,
    bundle_file,
)
from .safetensors_header import read_header
from .weights import check_shapes

MAX_BUNDLE_PARAMETERS = 1_000_000_000
"""About 4 GB of float32 weights: over 50 times the default bundle, and more than a 2-core CPU can sample with.
A config asking for more is refused before anything is allocated."""


@dataclass
class NetworkSkeleton:
    """A network as the config declares it, built on the meta device.

    Args:
        field: its config field (``autoencoder``, ``unet``, ...).
        filename: its weights file in the bundle.
        shapes: its state-dict tensor shapes.
        parameters: its parameter count.
        required: whether the bundle needs the weights file (an inpainting U-Net the capabilities do not list
            may be left out).
    """

    field: str
    filename: str
    shapes: dict[str, tuple[int, ...]]
    parameters: int
    required: bool = True


def _meta_build(name: str, build) -> torch.nn.Module:
    try:
        with torch.device("meta"):
            return build()
    except (TypeError, ValueError, AssertionError, KeyError, RuntimeError, NotImplementedError) as exc:
        raise BundleError(f"Bundle config field '{name}' cannot build a network: {exc}") from exc


def _without_buffers_from_config(net: dict) -> dict:
    # The preconditioning adds only non-persistent buffers computed from the config: no weights, no shapes.
    return {k: v for k, v in net.items() if k != "channel_preconditioning"}


def network_skeletons(config: BundleConfig) -> list[NetworkSkeleton]:
    """Every network the bundle's config declares, with its weights file, shapes and parameter count."""
    from ..models.controlnet import controlnet_kwargs

    builders = [("autoencoder", AUTOENCODER_FILE, lambda: build_autoencoder(config.autoencoder_kwargs)),
                ("unet", UNET_FILE, lambda: build_unet(_without_buffers_from_config(config.unet)))]
    if config.inpaint_unet is not None:
        builders.append(("inpaint_unet", INPAINT_UNET_FILE,
                         lambda: build_unet(_without_buffers_from_config(config.inpaint_unet))))
    if config.capabilities.get("controlnet") and config.controlnet is not None:
        builders.append(("controlnet", CONTROLNET_FILE, lambda: build_controlnet(controlnet_kwargs(config.controlnet))))
    if config.capabilities.get("structure_guidance"):
        builders.append(("structure_guidance", STRUCTURE_REGRESSOR_FILE,
                         lambda: build_structure_regressor(config.structure_guidance, config.latent_shape[0])))
    skeletons = []
    for name, filename, build in builders:
        module = _meta_build(name, build)
        required = name != "inpaint_unet" or config.supports_inpaint("inpaint_unet")
        skeletons.append(NetworkSkeleton(name, filename, {k: tuple(t.shape) for k, t in module.state_dict().items()},
                                         sum(p.numel() for p in module.parameters()), required))
    return skeletons


def check_size(skeletons: list[NetworkSkeleton]) -> int:
    """The bundle's parameter count; a ``BundleError`` naming the largest network if it exceeds the limit."""
    total = sum(s.parameters for s in skeletons)
    if total > MAX_BUNDLE_PARAMETERS:
        largest = max(skeletons, key=lambda s: s.parameters)
        raise BundleError(
            f"The bundle config declares {total / 1e6:,.0f}M parameters ({largest.field}: {largest.parameters / 1e6:,.0f}M "
            f"from '{largest.field}.channels'), above the {MAX_BUNDLE_PARAMETERS / 1e6:,.0f}M this engine builds. "
            "Check the config's channel counts; nothing was allocated."
        )
    return total


@dataclass
class BundleReport:
    """What ``inspect_bundle`` found.

    Args:
        config: the parsed config.
        card: the model card text ("" without one).
        parameters: the parameter count the config declares.
        problems: why the bundle cannot be used (empty: it can).
    """

    config: BundleConfig
    card: str
    parameters: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems


def inspect_bundle(bundle_dir: Path) -> BundleReport:
    """Check a bundle without loading its weights: its config, card, size, and each weights file's header and
    tensor shapes against the networks the config declares.

    Raises:
        BundleError: the config itself cannot be read (nothing else can be checked then).
    """
    bundle_dir = Path(bundle_dir)
    config = read_config(bundle_dir)
    report = BundleReport(config, "")
    try:
        card = bundle_file(bundle_dir, CARD_NAME, required=False)
        report.card = card.read_text(encoding="utf-8", errors="replace") if card is not None else ""
    except BundleError as problem:
        report.problems.append(str(problem))
    try:
        skeletons = network_skeletons(config)
        report.parameters = check_size(skeletons)
    except BundleError as problem:
        report.problems.append(str(problem))
        return report
    for skeleton in skeletons:
        try:
            path = bundle_file(bundle_dir, skeleton.filename, required=skeleton.required)
            if path is None:
                continue
            check_shapes(skeleton.shapes, read_header(path), skeleton.field, skeleton.filename)
        except BundleError as problem:
            report.problems.append(str(problem))
        except OSError as error:
            report.problems.append(f"{skeleton.filename} cannot be read ({error.strerror or error}).")
    return report
