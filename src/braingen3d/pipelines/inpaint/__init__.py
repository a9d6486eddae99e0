"""Lesion inpainting: regenerate a masked region of a volume from a prompt, leaving every other voxel untouched.

Python use::

    from ... import LesionInpainter
    inpainter = LesionInpainter.from_bundle(device="cpu")
    result = inpainter(volume, affine, mask, "a 15 mm white-matter hyperintensity", seed=1)

Files: ``inputs`` (volume and mask checks), ``model_space`` (the model's grid, intensity map and latents),
``methods`` (inpainting U-Net and RePaint), ``blend`` (compositing back), ``contrast_check`` (does the lesion
show the asked contrast), ``outputs`` (files and provenance), ``inpainter`` (the ``LesionInpainter``).
See docs/inpainting.md.
"""

from ..._lazy import lazy_attributes

_EXPORTS = {
    "BlendRegion": ".blend",
    "blend_region": ".blend",
    "composite": ".blend",
    "ContrastCheck": "braingen3d.requests.inpaint",
    "requested_contrast": "braingen3d.prompts.parser",
    "LesionContrast": ".contrast_check",
    "lesion_contrast": ".contrast_check",
    "max_change_outside": ".contrast_check",
    "InpaintResult": ".inpainter",
    "LesionInpainter": ".inpainter",
    "InpaintUnsupportedError": "braingen3d.core.errors",
    "MaskError": "braingen3d.core.errors",
    "InpaintInputs": ".inputs",
    "prepare_inputs": ".inputs",
    "InpaintJob": ".job",
    "plan_inpaint_job": ".job",
    "run_inpaint_job": ".job",
    "METHODS": "braingen3d.requests.inpaint",
    "resolve_method": "braingen3d.requests.inpaint",
    "INPAINT_UNET_INPUT_ORDER": ".methods",
    "inpaint_unet_input": ".methods",
    "masked_latent": ".methods",
    "choose_model_grid": ".model_space",
    "InpaintOutputPaths": ".outputs",
    "check_inpaint_outputs": ".outputs",
    "write_inpaint_outputs": ".outputs",
    "Resampling": "braingen3d.sampling.repaint",
    "DEFAULT_BLEND_MARGIN_MM": "braingen3d.requests.inpaint",
    "InpaintRequest": "braingen3d.requests.inpaint",
}
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
