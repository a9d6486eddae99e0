"""Validation of inpainting parameters, shared by the Python API, CLI and worker."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from ..bundle.config import KNOWN_INPAINT_METHODS, BundleConfig
from ..core.errors import InpaintUnsupportedError, InvalidInputError
from ..prompts.parser import HYPERINTENSE, HYPOINTENSE, requested_contrast
from .generation import GenerationParameters, validate_generation
from ..sampling.repaint import Resampling

DEFAULT_BLEND_MARGIN_MM = 2.0
MAX_BLEND_MARGIN_MM = 20.0
DEFAULT_MIN_CONTRAST = 1.1
"""A hyperintense lesion's mean must be at least this times the surrounding tissue's median (hypointense:
at most its inverse). The same margin the inpainting report asks of a FLAIR or T2 lesion."""
MAX_MIN_CONTRAST = 3.0
DEFAULT_ATTEMPTS = 3
MAX_ATTEMPTS = 10

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




@dataclass(frozen=True)
class ContrastCheck:
    """The contrast a prompt asks for and the margin a sample must reach.

    Args:
        requested: ``hyperintense``, ``hypointense`` or None (every sample passes).
        min_ratio: the margin (>= 1); a hypointense lesion must reach ``1 / min_ratio``.
    """

    requested: str | None
    min_ratio: float = DEFAULT_MIN_CONTRAST

    @classmethod
    def for_prompt(cls, prompt: str, min_ratio: float = DEFAULT_MIN_CONTRAST) -> "ContrastCheck":
        return cls(requested_contrast(prompt), float(min_ratio))

    def passes(self, ratio: float) -> bool:
        if self.requested is None:
            return True
        if not np.isfinite(ratio):
            return False
        return ratio >= self.min_ratio if self.requested == HYPERINTENSE else ratio <= 1.0 / self.min_ratio

    def better(self, ratio: float, than: float) -> bool:
        """Whether ``ratio`` is closer to what was asked than ``than`` (for keeping the best failed attempt)."""
        if not np.isfinite(than):
            return np.isfinite(ratio)
        return ratio > than if self.requested != HYPOINTENSE else ratio < than


def validate_contrast_settings(attempts: int | None, min_contrast: float | None) -> tuple[int, float]:
    """Defaults filled and ranges checked: ``attempts`` 1..10, ``min_contrast`` 1..3."""
    attempts = DEFAULT_ATTEMPTS if attempts is None else attempts
    min_contrast = DEFAULT_MIN_CONTRAST if min_contrast is None else min_contrast
    if isinstance(attempts, bool) or not isinstance(attempts, (int, np.integer)) or not 1 <= attempts <= MAX_ATTEMPTS:
        raise InvalidInputError(f"attempts must be a whole number from 1 to {MAX_ATTEMPTS} "
                                f"(1 switches the contrast check's retries off); got {attempts!r}.")
    if isinstance(min_contrast, bool) or not isinstance(min_contrast, (int, float)) or \
            not 1.0 <= float(min_contrast) <= MAX_MIN_CONTRAST:
        raise InvalidInputError(f"min_contrast must be a number from 1 to {MAX_MIN_CONTRAST:g} "
                                f"(lesion mean / surrounding tissue); got {min_contrast!r}.")
    return int(attempts), float(min_contrast)


@dataclass
class InpaintParameters:
    """Validated inputs of one inpainting call.

    Args:
        generation: prompt, negative prompt, steps, guidance, sampler and seed.
        method: ``repaint`` or ``inpaint_unet`` (``auto`` already resolved).
        blend_margin_mm: width of the feathered band around the mask.
        resampling: RePaint's jump schedule (unused by ``inpaint_unet``).
        attempts: samples tried (seeds ``seed``, ``seed + 1`` ...) until one passes ``contrast``.
        contrast: the lesion contrast the prompt asks for and the margin a sample must reach.
    """

    generation: GenerationParameters
    method: str
    blend_margin_mm: float = DEFAULT_BLEND_MARGIN_MM
    resampling: Resampling = field(default_factory=Resampling)
    attempts: int = 1
    contrast: ContrastCheck = field(default_factory=lambda: ContrastCheck(None))

    @property
    def model_evaluations(self) -> int:
        """U-Net evaluations one call makes (RePaint's jumps add evaluations; the inpainting U-Net does not)."""
        steps = self.generation.steps
        return Resampling.model_evaluations(self.resampling.path(steps)) if self.method == "repaint" else steps


def validate_inpaint(config: BundleConfig, prompt: str | None, negative_prompt: str | None = None, steps: int | None = None,
                     guidance_scale: float | None = None, sampler: str | None = None, seed: int | None = None,
                     method: str = "auto", blend_margin_mm: float | None = DEFAULT_BLEND_MARGIN_MM,
                     resampling: Resampling | None = None, attempts: int | None = None,
                     min_contrast: float | None = None) -> InpaintParameters:
    """Fill bundle defaults, check every parameter and resolve the method against the bundle.

    Args:
        config: the bundle's config (defaults and capabilities).
        prompt: the lesion to paint, e.g. "a 15 mm white-matter hyperintensity"; must not be empty.
        negative_prompt: what to steer away from (the bundle's inpainting default if None, see
            ``BundleConfig.inpaint_defaults``; "" for none).
        steps: sampler steps (bundle default if None).
        guidance_scale: classifier-free guidance weight (the bundle's inpainting default if None).
        sampler: sampler name (bundle default if None).
        seed: seed; random (and recorded) if None.
        method: ``auto``, ``repaint`` or ``inpaint_unet``.
        blend_margin_mm: feathered band width in mm, 0 to 20 (default 2).
        resampling: RePaint's jump schedule (default: 2 rounds of 1-step jumps over the first 80 %).
        attempts: samples to try when the prompt names a contrast ("hyperintensity") and a sample misses it
            (default 3; 1 keeps the first sample whatever its contrast).
        min_contrast: the lesion / surrounding-tissue margin a sample must reach (default 1.1).
    """
    defaults = config.inpaint_defaults()
    if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
        raise InvalidInputError(
            "The prompt is empty. Describe the lesion to paint, e.g. \"a 15 mm white-matter hyperintensity\"."
        )
    generation = validate_generation(
        prompt, defaults["negative_prompt"] if negative_prompt is None else negative_prompt,
        int(defaults["steps"]) if steps is None else steps,
        float(defaults["guidance_scale"]) if guidance_scale is None else guidance_scale,
        sampler or defaults["sampler"],
        random.SystemRandom().randrange(0, 2**31) if seed is None else seed,
        1,
    )
    margin = DEFAULT_BLEND_MARGIN_MM if blend_margin_mm is None else blend_margin_mm
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0.0 <= margin <= MAX_BLEND_MARGIN_MM:
        raise InvalidInputError(f"The blend margin must be a number of mm from 0 to {MAX_BLEND_MARGIN_MM:g}; got {margin!r}.")
    resolved = resolve_method(config, method or "auto")
    if resolved == "inpaint_unet":
        config.check_inpaint_unet()
    attempts, min_contrast = validate_contrast_settings(attempts, min_contrast)
    return InpaintParameters(generation, resolved, float(margin), (resampling or Resampling()).validate(),
                             attempts, ContrastCheck.for_prompt(generation.prompt, min_contrast))
