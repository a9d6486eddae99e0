"""Lesion inpainting: regenerate a masked region of a volume from a prompt, leaving every other voxel untouched.

Python use::

    from braingen3d.inpaint import LesionInpainter
    inpainter = LesionInpainter.from_bundle(device="cpu")
    result = inpainter(volume, affine, mask, "a 15 mm white-matter hyperintensity", seed=1)

Files: ``plan_inpaint_job`` + ``run_inpaint_job`` + ``write_inpaint_outputs`` (what the CLI and worker do).
See docs/inpainting.md.
"""

from .blend import BlendRegion, blend_region, composite
from .errors import InpaintUnsupportedError, MaskError
from .evaluate import LesionContrast, lesion_contrast, max_change_outside
from .inpainter import InpaintResult, LesionInpainter
from .inputs import InpaintInputs, prepare_inputs
from .job import InpaintJob, plan_inpaint_job, run_inpaint_job
from .methods import METHODS, resolve_method
from .model_space import choose_model_grid
from .outputs import InpaintOutputPaths, check_inpaint_outputs, write_inpaint_outputs
from .parameters import DEFAULT_BLEND_MARGIN_MM, InpaintParameters, validate_inpaint
from .resampling import Resampling
from .source import SourceImage, read_source
from .unet_inpainting import INPAINT_UNET_INPUT_ORDER, inpaint_unet_input, masked_latent

__all__ = [
    "BlendRegion", "DEFAULT_BLEND_MARGIN_MM", "INPAINT_UNET_INPUT_ORDER", "InpaintInputs", "InpaintJob",
    "InpaintOutputPaths", "InpaintParameters", "InpaintResult", "InpaintUnsupportedError", "LesionContrast",
    "LesionInpainter", "METHODS", "MaskError", "Resampling", "SourceImage", "blend_region", "check_inpaint_outputs",
    "choose_model_grid", "composite", "inpaint_unet_input", "lesion_contrast", "masked_latent", "max_change_outside",
    "plan_inpaint_job", "prepare_inputs", "read_source", "resolve_method", "run_inpaint_job", "validate_inpaint",
    "write_inpaint_outputs",
]
