"""The provenance record of one batch case: generation, attributes, lesions, inpainting and batch context."""

from __future__ import annotations

from typing import Any

from .lesions import PlacedLesion
from .plan import BatchPlan, CaseSpec
from .sharding import Shard

PLACEMENT_NOTE = ("Ellipsoids of the planned equivalent diameters centred in an intensity-based white-matter estimate of "
                  "the generated image (brain mask as fallback), then inpainted; label 1 = the inpainted lesion mask.")
_INPAINT_KEYS = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "sampler", "method", "blend_margin_mm",
                 "mask_voxels", "blend_region_voxels", "changed_voxels", "synthetic_region", "resampling", "notes")


def case_provenance(plan: BatchPlan, case: CaseSpec, generation: dict[str, Any], placed: list[PlacedLesion],
                    label_voxels: int, inpaint: dict[str, Any] | None, dataset: str, shard: Shard) -> dict[str, Any]:
    """Everything needed to trace (and regenerate) a case.

    Args:
        plan: the batch plan.
        case: the case.
        generation: the pipeline's provenance of the lesion-free volume.
        placed: the lesions as placed.
        label_voxels: non-zero voxels of the label written.
        inpaint: the inpainter's provenance of the volume, or None without lesions.
        dataset: the dataset folder name.
        shard: the rank that generated the case.
    """
    record = dict(generation)
    record.update(
        task="batch",
        index=case.index,
        case_id=case.case_id,
        modality=plan.settings.modality,
        attributes=dict(case.attributes),
        description=case.description,
        lesions={
            "requested": len(case.lesion_diameters_mm),
            "requested_diameters_mm": list(case.lesion_diameters_mm),
            "placed": [lesion.to_dict() for lesion in placed],
            "count": len(placed),
            "label_value": 1,
            "label_voxels": label_voxels,
            "prompt": case.lesion_prompt if placed else None,
            "placement": PLACEMENT_NOTE,
        },
        inpaint={key: inpaint[key] for key in _INPAINT_KEYS if key in inpaint} if inpaint else None,
        batch={
            "dataset": dataset,
            "base_seed": plan.base_seed,
            "cases_planned": len(plan),
            "case_digest": plan.digest(case),
            "source": plan.source,
            "settings": {"inpaint_method": plan.settings.inpaint_method,
                         "blend_margin_mm": plan.settings.blend_margin_mm,
                         "inpaint_guidance_scale": plan.settings.inpaint_guidance_scale,
                         "inpaint_negative_prompt": plan.settings.inpaint_negative_prompt},
            "rank": shard.rank,
            "world_size": shard.world_size,
        },
    )
    return record
