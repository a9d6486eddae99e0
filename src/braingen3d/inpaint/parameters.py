"""Validation of inpainting parameters, shared by the Python API, CLI and worker."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..bundle import BundleConfig
from ..errors import InvalidInputError
from ..parameters import GenerationParameters, validate_generation
from .contrast_check import ContrastCheck, validate_contrast_settings
from .defaults import DEFAULT_BLEND_MARGIN_MM
from .methods import resolve_method
from .resampling import Resampling
from .unet_inpainting import check_inpaint_unet

MAX_BLEND_MARGIN_MM = 20.0


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
        check_inpaint_unet(config.inpaint_unet or {}, int(config.autoencoder["latent_channels"]))
    attempts, min_contrast = validate_contrast_settings(attempts, min_contrast)
    return InpaintParameters(generation, resolved, float(margin), (resampling or Resampling()).validate(),
                             attempts, ContrastCheck.for_prompt(generation.prompt, min_contrast))
