"""Lesion inpainting: regenerate a masked region of a volume from a prompt, leaving every other voxel untouched.

Python use::

    from braingen3d.inpaint import LesionInpainter
    inpainter = LesionInpainter.from_bundle(device="cpu")
    result = inpainter(volume, affine, mask, "a 15 mm white-matter hyperintensity", seed=1)

Files: ``plan_inpaint_job`` + ``run_inpaint_job`` + ``write_inpaint_outputs`` (what the CLI and worker do).
See docs/inpainting.md.
"""

from .._lazy import lazy_attributes

_EXPORTS = {
    "BlendRegion": ".blend",
    "blend_region": ".blend",
    "composite": ".blend",
    "ContrastCheck": ".contrast_check",
    "requested_contrast": ".contrast_check",
    "InpaintUnsupportedError": ".errors",
    "MaskError": ".errors",
    "LesionContrast": ".evaluate",
    "lesion_contrast": ".evaluate",
    "max_change_outside": ".evaluate",
    "InpaintResult": ".inpainter",
    "LesionInpainter": ".inpainter",
    "InpaintInputs": ".inputs",
    "prepare_inputs": ".inputs",
    "InpaintJob": ".job",
    "plan_inpaint_job": ".job",
    "run_inpaint_job": ".job",
    "METHODS": ".methods",
    "resolve_method": ".methods",
    "choose_model_grid": ".model_space",
    "InpaintOutputPaths": ".outputs",
    "check_inpaint_outputs": ".outputs",
    "write_inpaint_outputs": ".outputs",
    "DEFAULT_BLEND_MARGIN_MM": ".defaults",
    "InpaintParameters": ".parameters",
    "validate_inpaint": ".parameters",
    "Resampling": ".resampling",
    "SourceImage": ".source",
    "read_source": ".source",
    "INPAINT_UNET_INPUT_ORDER": ".unet_inpainting",
    "inpaint_unet_input": ".unet_inpainting",
    "masked_latent": ".unet_inpainting",
}
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)
__all__ = [
    "BlendRegion", "ContrastCheck", "DEFAULT_BLEND_MARGIN_MM", "INPAINT_UNET_INPUT_ORDER", "InpaintInputs", "InpaintJob",
    "InpaintOutputPaths", "InpaintParameters", "InpaintResult", "InpaintUnsupportedError", "LesionContrast",
    "LesionInpainter", "METHODS", "MaskError", "Resampling", "SourceImage", "blend_region", "check_inpaint_outputs",
    "choose_model_grid", "composite", "inpaint_unet_input", "lesion_contrast", "masked_latent", "max_change_outside",
    "plan_inpaint_job", "prepare_inputs", "read_source", "requested_contrast", "resolve_method", "run_inpaint_job", "validate_inpaint",
    "write_inpaint_outputs",
]
