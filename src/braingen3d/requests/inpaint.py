"""The lesion-inpainting request: what the Python API, the CLI, batch, the worker and the Slicer module ask for.

A field left None takes the bundle's inpainting defaults (``BundleConfig.inpaint_defaults``: the generation
defaults with ``sampling_defaults.inpaint`` over them) or the engine's; ``resolve`` fills them, resolves the
method against the bundle and checks every field, in this one place. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..bundle.config import KNOWN_INPAINT_METHODS, BundleConfig
from ..core.errors import InpaintUnsupportedError, InvalidInputError
from ..prompts.parser import HYPERINTENSE, HYPOINTENSE, requested_contrast
from ..sampling.repaint import Resampling
from .generation import GenerationRequest

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


@dataclass(frozen=True)
class InpaintRequest:
    """One inpainting call; None means the bundle's (or the engine's) default.

    Args:
        prompt: the lesion to paint, e.g. "a 15 mm white-matter hyperintensity"; must not be empty.
        negative_prompt: what to steer away from (the bundle's inpainting default if None; "" for none).
        steps: sampler steps (the bundle's default if None).
        guidance_scale: classifier-free guidance weight (the bundle's inpainting default if None).
        sampler: sampler name (the bundle's default if None).
        seed: seed; random (and recorded) if None.
        method: ``auto``, ``repaint`` or ``inpaint_unet`` (``METHODS``).
        blend_margin_mm: feathered band width in mm, 0 to 20 (default 2).
        resampling: RePaint's jump schedule (default: 2 rounds of 1-step jumps over the first 80 %).
        attempts: samples to try when the prompt names a contrast ("hyperintensity") and a sample misses it
            (default 3; 1 keeps the first sample whatever its contrast).
        min_contrast: the lesion / surrounding-tissue margin a sample must reach (default 1.1).
    """

    prompt: str | None
    negative_prompt: str | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    sampler: str | None = None
    seed: int | None = None
    method: str = "auto"
    blend_margin_mm: float | None = DEFAULT_BLEND_MARGIN_MM
    resampling: Resampling | None = None
    attempts: int | None = None
    min_contrast: float | None = None

    def resolve(self, config: BundleConfig) -> "InpaintRequest":
        """This request with the bundle's defaults filled in, a seed drawn, the method resolved (``auto`` becomes
        what the bundle offers) and every field checked.

        Raises:
            InvalidInputError: naming the first bad field and the fix (``InpaintUnsupportedError`` for a method
                the bundle does not offer).
            BundleError: the bundle's inpainting U-Net does not fit the latent.
        """
        if self.prompt is None or (isinstance(self.prompt, str) and not self.prompt.strip()):
            raise InvalidInputError(
                "The prompt is empty. Describe the lesion to paint, e.g. \"a 15 mm white-matter hyperintensity\"."
            )
        defaults = config.inpaint_defaults()
        generation = GenerationRequest(
            self.prompt, defaults["negative_prompt"] if self.negative_prompt is None else self.negative_prompt,
            self.steps, self.guidance_scale, self.sampler, self.seed).resolve(defaults)
        margin = DEFAULT_BLEND_MARGIN_MM if self.blend_margin_mm is None else self.blend_margin_mm
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0.0 <= margin <= MAX_BLEND_MARGIN_MM:
            raise InvalidInputError(f"The blend margin must be a number of mm from 0 to {MAX_BLEND_MARGIN_MM:g}; "
                                    f"got {margin!r}.")
        method = resolve_method(config, self.method or "auto")
        if method == "inpaint_unet":
            config.check_inpaint_unet()
        attempts, min_contrast = validate_contrast_settings(self.attempts, self.min_contrast)
        return replace(self, prompt=generation.prompt, negative_prompt=generation.negative_prompt,
                       steps=generation.steps, guidance_scale=generation.guidance_scale, sampler=generation.sampler,
                       seed=generation.seed, method=method, blend_margin_mm=float(margin),
                       resampling=(self.resampling or Resampling()).validate(), attempts=attempts,
                       min_contrast=min_contrast)

    @property
    def generation(self) -> GenerationRequest:
        """The prompt, negative prompt, steps, guidance, sampler and seed, as one volume's generation request."""
        return GenerationRequest(self.prompt, self.negative_prompt, self.steps, self.guidance_scale, self.sampler,
                                 self.seed)

    @property
    def contrast(self) -> ContrastCheck:
        """The lesion contrast the prompt asks for and the margin a sample must reach (after ``resolve``)."""
        return ContrastCheck.for_prompt(self.prompt or "", DEFAULT_MIN_CONTRAST if self.min_contrast is None
                                        else self.min_contrast)

    @property
    def model_evaluations(self) -> int:
        """U-Net evaluations one sample takes (RePaint's jumps add evaluations; the inpainting U-Net does not)."""
        if self.method == "repaint":
            return Resampling.model_evaluations((self.resampling or Resampling()).path(self.steps))
        return self.steps
