"""Batch generation of synthetic cases straight into nnU-Net v2 raw datasets, shardable over processes.

* ``prompt_templates``: templates with named attributes, rendered in the training captions' wording;
* ``ranges``: attribute ranges from the command line (``20-90``, ``normal,enlarged``);
* ``plan``: the deterministic case list (ids, seeds, prompts, lesion sizes) of a batch;
* ``sharding``: which cases a torchrun rank makes (``index % WORLD_SIZE == RANK``);
* ``white_matter`` and ``lesions``: lesion masks placed in the generated image's white matter;
* ``runner``: generate, inpaint lesions, write with ``NnunetDatasetWriter``; resumable;
* ``coordination``: rank 0 creates the dataset, the other ranks join it.

See docs/batch.md.
"""

from .._lazy import lazy_attributes

_EXPORTS = {
    "PlacedLesion": ".lesions",
    "place_lesions": ".lesions",
    "BatchPlan": ".plan",
    "CaseSpec": ".plan",
    "GenerationSettings": ".plan",
    "LesionRanges": ".plan",
    "parse_modality": ".plan",
    "plan_from_prompts": ".plan",
    "plan_from_template": ".plan",
    "read_prompt_file": ".plan",
    "ATTRIBUTES": ".prompt_templates",
    "DEFAULT_TEMPLATE": ".prompt_templates",
    "PromptTemplate": ".prompt_templates",
    "facts_from_prompt": "braingen3d.prompts.parser",
    "lesion_phrase": ".prompt_templates",
    "BatchEvent": ".runner",
    "BatchResult": ".runner",
    "BatchRunner": ".runner",
    "check_dataset_target": ".runner",
    "check_plan_matches": ".runner",
    "Shard": ".sharding",
}
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "ATTRIBUTES",
    "DEFAULT_TEMPLATE",
    "BatchEvent",
    "BatchPlan",
    "BatchResult",
    "BatchRunner",
    "CaseSpec",
    "GenerationSettings",
    "LesionRanges",
    "PlacedLesion",
    "PromptTemplate",
    "Shard",
    "check_dataset_target",
    "check_plan_matches",
    "facts_from_prompt",
    "lesion_phrase",
    "parse_modality",
    "place_lesions",
    "plan_from_prompts",
    "plan_from_template",
    "read_prompt_file",
]
