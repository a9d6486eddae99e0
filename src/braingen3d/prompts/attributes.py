"""Prompt attributes: the modality, age, sex, ventricle finding and lesion wording a prompt names, as a vector.

The U-Nets take this vector beside the text tokens (``braingen3d.models.unet``), because on a small training
budget cross-attention learns neither that "T1-weighted" selects a contrast nor that "72-year-old" implies
larger ventricles. The vector is read from the prompt by the engine's parser (``facts_from_prompt``,
``ventricle_finding``, ``lesion_finding``), the one that sets structure-guidance targets, so the prompt stays
the only input, training captions and user prompts are read alike, and the empty prompt (classifier-free
guidance's unconditional branch) gives the all-zero vector.

The first ``ATTRIBUTE_FEATURES`` entries are the modality, age, sex and ventricle finding; the
``LESION_FEATURES`` after them say whether the prompt wants a lesion, wants none, and the size it names. A
U-Net built with ``lesion_attributes`` (the default bundle's inpainting U-Net) reads them as well; one that
reads fewer entries ignores the rest.
"""

from __future__ import annotations

import torch

from .parser import facts_from_prompt, lesion_finding, ventricle_finding
from .vocabulary import MODALITIES

PROMPT_ATTRIBUTES_FLAG = "prompt_attributes"
"""Field of the bundle's ``unet`` (and ``inpaint_unet``) and ``text_encoder``: true when they use the attribute vector."""
MODALITY_ORDER = MODALITIES
AGE_CENTRE, AGE_SPREAD = 55.0, 20.0
ATTRIBUTE_FEATURES = len(MODALITY_ORDER) + 2 + 2 + 2
"""Modality one-hot (4), age present and centred age (2), sex one-hot F/M (2), ventricles normal/enlarged (2)."""
LESION_ATTRIBUTES_FLAG = "lesion_attributes"
"""Field of the bundle's ``inpaint_unet``: true when it also reads the lesion features (needs ``prompt_attributes``)."""
LESION_FEATURES = 3
"""Lesion wanted, no lesion wanted, and the named diameter in cm (0 when none is named)."""
ALL_ATTRIBUTE_FEATURES = ATTRIBUTE_FEATURES + LESION_FEATURES
MAX_LESION_DIAMETER_CM = 5.0


def prompt_attribute_vector(prompt: str) -> torch.Tensor:
    """The ``(ALL_ATTRIBUTE_FEATURES,)`` vector of what ``prompt`` names; all zeros when it names nothing.

    Raises:
        InvalidInputError: the prompt asks for both enlarged and normal ventricles.
    """
    facts = facts_from_prompt(prompt)
    vector = torch.zeros(ALL_ATTRIBUTE_FEATURES)
    if facts.get("modality") in MODALITY_ORDER:
        vector[MODALITY_ORDER.index(facts["modality"])] = 1.0
    offset = len(MODALITY_ORDER)
    if "age" in facts:
        vector[offset] = 1.0
        vector[offset + 1] = max(-3.0, min(3.0, (float(facts["age"]) - AGE_CENTRE) / AGE_SPREAD))
    offset += 2
    if facts.get("sex") in ("F", "M"):
        vector[offset + ("F", "M").index(facts["sex"])] = 1.0
    offset += 2
    finding = ventricle_finding(prompt)
    if finding is not None:
        vector[offset + ("normal", "enlarged").index(finding)] = 1.0
    lesion = lesion_finding(prompt)
    vector[ATTRIBUTE_FEATURES] = float(lesion.wanted)
    vector[ATTRIBUTE_FEATURES + 1] = float(lesion.unwanted)
    if lesion.diameter_mm is not None:
        vector[ATTRIBUTE_FEATURES + 2] = min(MAX_LESION_DIAMETER_CM, lesion.diameter_mm / 10.0)
    return vector


def prompt_attribute_vectors(prompts: list[str]) -> torch.Tensor:
    """``(len(prompts), ALL_ATTRIBUTE_FEATURES)``: one ``prompt_attribute_vector`` per prompt."""
    return torch.stack([prompt_attribute_vector(prompt) for prompt in prompts])
