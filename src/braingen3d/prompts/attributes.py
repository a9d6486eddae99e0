"""Prompt attributes: the modality, age, sex and ventricle finding a prompt names, as a U-Net input.

Cross-attention has to learn from token states that "T1-weighted" selects a contrast and that
"72-year-old" implies larger ventricles; on this project's budget it learns neither reliably (training
README). MAISI gives its U-Net global facts (body region, voxel spacing) as embeddings added to the
timestep embedding. Here they are read from the prompt itself by the engine's parsers
(``facts_from_prompt``, ``ventricle_finding``), the same ones that set structure-guidance targets, so
the prompt stays the only input, training captions and user prompts are read alike, and the empty
prompt (classifier-free guidance's unconditional branch) has no attributes.

The attribute vector travels as one extra context token after the text tokens (its first
``ALL_ATTRIBUTE_FEATURES`` entries, the rest zero), so samplers, guidance, inpainting and ControlNet pass
it on unchanged. A U-Net built with ``prompt_attributes`` takes that token off the context before
cross-attention and adds an MLP of its first ``ATTRIBUTE_FEATURES`` entries to its timestep embedding;
the MLP's last layer starts at zero. An inpainting U-Net built with ``lesion_attributes`` as well reads
the ``LESION_FEATURES`` after them: whether the prompt wants a lesion, wants none, and the size it names.
It was built because cross-attention alone barely learnt a FLAIR lesion from the prompt on the block-PCA
latent (training README, session 16). Alone it did not change that (session 17); with guidance 20 away from
"no lesions", U-Nets with and without it did equally well, and the default bundle ships the one with it.
A U-Net that reads fewer entries ignores the rest, so one token serves both.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .parser import facts_from_prompt, lesion_finding, ventricle_finding

PROMPT_ATTRIBUTES_FLAG = "prompt_attributes"
"""Field of the bundle's ``unet`` (and ``inpaint_unet``) and ``text_encoder``: true when they use the attribute token."""
MODALITY_ORDER = ("T1", "T2", "FLAIR", "PD")
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


def append_attribute_token(context: torch.Tensor, prompts: list[str]) -> torch.Tensor:
    """``(n, L, H)`` text states -> ``(n, L + 1, H)``: the prompts' attribute vectors as a last token."""
    if context.shape[-1] < ALL_ATTRIBUTE_FEATURES:
        raise ValueError(f"Prompt attributes need a context width of at least {ALL_ATTRIBUTE_FEATURES}; "
                         f"got {context.shape[-1]}.")
    token = context.new_zeros(context.shape[0], 1, context.shape[-1])
    for row, prompt in enumerate(prompts):
        token[row, 0, :ALL_ATTRIBUTE_FEATURES] = prompt_attribute_vector(prompt).to(context.dtype)
    return torch.cat([context, token], dim=1)


class PromptAttributeEmbedding(nn.Module):
    """Attribute vector -> timestep-embedding offset (zero at initialisation), and the two hooks that use it.

    The hooks are bound methods of this module, so a ``copy.deepcopy`` of the U-Net (an EMA copy) gets
    hooks bound to its own copy of this module.
    """

    def __init__(self, embed_dim: int, features: int = ATTRIBUTE_FEATURES) -> None:
        super().__init__()
        self.features = int(features)
        self.mlp = nn.Sequential(nn.Linear(self.features, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)
        self.attributes: torch.Tensor | None = None
        # Set by ``braingen3d.models.anatomical_prior.enable_anatomical_prior``.
        self.anatomical_prior: nn.Module | None = None

    def forward(self, attributes: torch.Tensor) -> torch.Tensor:
        return self.mlp(attributes)

    def take_attribute_token(self, unet: nn.Module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        """U-Net forward pre-hook: keep the last context token's attributes, pass the text tokens on."""
        args = list(args)
        context = kwargs.get("context") if "context" in kwargs else (args[2] if len(args) > 2 else None)
        if context is None:
            self.attributes = None
            return tuple(args), kwargs
        if context.shape[1] < 2:
            raise ValueError("This U-Net expects the prompt-attribute token after the text tokens; encode prompts with "
                             "the bundle's text_encoder settings (prompt_attributes: true).")
        self.attributes = context[:, -1, :self.features]
        if "context" in kwargs:
            kwargs["context"] = context[:, :-1]
        else:
            args[2] = context[:, :-1]
        return tuple(args), kwargs

    def add_to_time_embedding(self, time_embed: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        """Timestep-embedding forward hook: add this module's embedding of the kept attributes."""
        if self.attributes is None:
            return output
        return output + self(self.attributes.to(output.dtype)).to(output.dtype)

    def add_to_input_features(self, conv_in: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        """``conv_in`` forward hook: add the anatomical prior scaled by the kept attributes."""
        attributes = None if self.attributes is None else self.attributes[:, :ATTRIBUTE_FEATURES]
        return self.anatomical_prior(attributes, output)


def enable_prompt_attributes(unet: nn.Module, lesions: bool = False) -> nn.Module:
    """Give a MONAI ``DiffusionModelUNet`` (or subclass) the attribute path; returns the same module.

    Two hooks keep MONAI's forward and state-dict keys: one takes the last context token off before
    the U-Net runs, the other adds its embedding where MONAI adds a class embedding. With ``lesions``
    the embedding also reads the lesion features (its first layer is ``LESION_FEATURES`` inputs wider).
    """
    features = ALL_ATTRIBUTE_FEATURES if lesions else ATTRIBUTE_FEATURES
    embedding = PromptAttributeEmbedding(unet.time_embed[-1].out_features, features)
    unet.prompt_attribute_embed = embedding
    unet.register_forward_pre_hook(embedding.take_attribute_token, with_kwargs=True)
    unet.time_embed.register_forward_hook(embedding.add_to_time_embedding)
    return unet
