"""Provenance of an inpainted volume and of its lesion mask."""

from __future__ import annotations

from typing import Any

from ..bundle import BundleConfig
from ..device import precision_name
from ..provenance import make_provenance
from .inputs import InpaintInputs
from .model_view import ModelView
from .contrast_check import ContrastAttempt, ContrastCheck
from .parameters import InpaintParameters

SYNTHETIC_REGION_NOTE = (
    "Only the voxels inside the lesion mask and its blend margin are synthetic (feathered from generated to original "
    "across the margin); every other voxel is copied bit-identically from the source volume."
)
MASK_NOTE = "Binary mask (1 = synthetic lesion region) in the source volume's grid."


def contrast_record(asked: ContrastCheck, check: ContrastCheck, reference: float | None,
                    attempts: list[ContrastAttempt], used: ContrastAttempt) -> dict[str, Any]:
    """The contrast check as the provenance records it.

    ``asked`` is what the prompt asked for; ``check`` what was checked (``requested`` None when the prompt
    named no contrast, or when no tissue around the mask allowed a check: ``checked`` is then false).
    """
    return {
        "requested": asked.requested,
        "checked": check.requested is not None,
        "min_ratio": check.min_ratio,
        "surrounding_median_model_scale": None if reference is None else round(reference, 6),
        "attempts": [{"seed": a.seed, "ratio": None if a.ratio != a.ratio else round(a.ratio, 4), "passed": a.passed}
                     for a in attempts] if check.requested else [],
        "passed": used.passed if check.requested else None,
    }


def inpaint_provenance(config: BundleConfig, inputs: InpaintInputs, params: InpaintParameters, view: ModelView,
                       device: str, changed_voxels: int, role: str = "volume", seed: int | None = None,
                       contrast: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance record of an inpainting output.

    Args:
        config: the bundle used.
        inputs: the source volume and mask.
        params: the validated parameters.
        view: the model grid and intensity map used.
        device: where the networks ran.
        changed_voxels: how many voxels differ from the source volume.
        role: ``volume`` (the inpainted image) or ``lesion_mask``.
        seed: the seed of the returned sample (default: the requested one); rerunning with it and one
            attempt reproduces the output.
        contrast: the contrast check's record (``contrast_record``).
    """
    g = params.generation
    mask_file = inputs.mask_source
    record = make_provenance(
        "inpaint", config.bundle_id, config.version,
        role=role,
        prompt=g.prompt, negative_prompt=g.negative_prompt, seed=g.seed if seed is None else seed, steps=g.steps,
        guidance_scale=g.guidance_scale, sampler=g.sampler, device=device, precision=precision_name(device), index=0, num_volumes=1,
        method=params.method, blend_margin_mm=params.blend_margin_mm,
        source_volume=inputs.volume.name, source_volume_sha256=inputs.volume.sha256,
        source_mask=mask_file.name if mask_file else None, source_mask_sha256=mask_file.sha256 if mask_file else None,
        mask_voxels=inputs.mask_voxels, mask_volume_ml=round(inputs.mask_volume_ml, 4),
        blend_region_voxels=view.region.size, changed_voxels=changed_voxels,
        synthetic_region="lesion_mask_plus_blend_margin",
        notes=MASK_NOTE + " " + SYNTHETIC_REGION_NOTE if role == "lesion_mask" else SYNTHETIC_REGION_NOTE,
        shape=list(inputs.volume.shape), spacing_mm=list(inputs.volume.spacing),
        model_grid=view.grid.to_dict(), intensity_map=view.intensity.to_dict(),
    )
    record["requested_seed"] = g.seed
    record["max_attempts"] = params.attempts
    if contrast is not None:
        record["contrast_check"] = contrast
    if params.method == "repaint":
        r = params.resampling
        record["resampling"] = {"rounds": r.rounds, "jump_length": r.jump_length, "stop_fraction": r.stop_fraction}
    return record
