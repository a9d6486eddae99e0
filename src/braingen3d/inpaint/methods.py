"""Which inpainting method a bundle offers and which one a call uses."""

from __future__ import annotations

from ..bundle import BundleConfig
from ..bundle.config import KNOWN_INPAINT_METHODS
from .errors import InpaintUnsupportedError

METHODS = {
    "repaint": "latent masked diffusion with known-region re-noising and RePaint resampling (any text bundle)",
    "inpaint_unet": "a trained inpainting U-Net that sees the mask and the masked latent (bundles that ship one)",
    "auto": "inpaint_unet when the bundle has one, else repaint",
}
# Preferred first: a network trained for the task beats resampling an unconditional one.
AUTO_PREFERENCE = ("inpaint_unet", "repaint")


def resolve_method(config: BundleConfig, requested: str = "auto") -> str:
    """The method to run: ``requested`` if the bundle declares it, or the best one it declares for ``auto``.

    Args:
        config: the bundle's config (its ``capabilities.inpaint`` list).
        requested: ``auto``, ``repaint`` or ``inpaint_unet``.
    """
    if requested not in METHODS:
        raise InpaintUnsupportedError(f"Unknown inpainting method {requested!r}. Choose one of: {', '.join(METHODS)}.")
    offered = [m for m in config.capabilities.get("inpaint", []) if m in KNOWN_INPAINT_METHODS]
    if not offered:
        raise InpaintUnsupportedError(
            f"The bundle {config.bundle_id} {config.version} does not support inpainting (its capabilities.inpaint is empty). "
            "Use a bundle that lists 'repaint' or 'inpaint_unet' (see: braingen3d info --bundle FOLDER)."
        )
    if requested == "auto":
        return next(m for m in AUTO_PREFERENCE if m in offered)
    if requested not in offered:
        raise InpaintUnsupportedError(
            f"The bundle {config.bundle_id} {config.version} does not offer the inpainting method '{requested}'; "
            f"it offers {offered}. Pass --method {offered[0]} or --method auto."
        )
    return requested
