"""Prompt templates with named attributes, rendered in the wording the bundles were trained on.

A template is ordinary text with ``{attribute}`` fields::

    "{modality} MRI of a {age}-year-old {sex} with {ventricles} ventricles and {lesions}"

Each field is rendered with the words of the training captions, the engine's caption vocabulary
(``braingen3d.prompts.vocabulary``): ``T2-weighted``, ``woman``, ``enlarged``, ``a 12 mm white-matter
hyperintensity``... The prompt parser (``braingen3d.prompts.parser``) reads them back.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import InvalidInputError
from ..prompts.vocabulary import (
    MODALITY_WORDS,
    MULTIPLE_LESIONS,
    NO_LESIONS,
    SEX_NOUNS,
    sized_lesion,
)

#: Attribute name → what it renders as. Used in the error for an unknown field.
ATTRIBUTES: dict[str, str] = {
    "modality": "contrast: T1-weighted, T2-weighted, FLAIR or proton-density-weighted (--modality)",
    "age": "age in years (--age)",
    "sex": "man or woman (--sex)",
    "ventricles": "normal or enlarged (--ventricles)",
    "lesions": "the lesion phrase: 'no lesions', 'a 12 mm white-matter hyperintensity' or "
               "'multiple white-matter lesions' (--lesions, --lesion-size-mm)",
}
DEFAULT_TEMPLATE = "{modality} MRI of a {age}-year-old {sex} with {ventricles} ventricles and {lesions}"
DEFAULT_LESION_PROMPT = "{lesions}"
LESION_PROMPT_FIELDS = ("lesions", "count", "size", "modality")


def _fix_articles(text: str) -> str:
    # "a {age}-year-old" with age 80 renders "a 80-year-old"; English needs "an".
    return re.sub(r"\b([Aa]) (?=(8\d*|11|18)[- ])", lambda m: m.group(1) + "n ", text)


def lesion_phrase(count: int, largest_diameter_mm: float, modality: str) -> str:
    """The caption phrase for ``count`` lesions: sized for one lesion, ``multiple ...`` for more.

    Args:
        count: number of lesions (0 gives ``no lesions``).
        largest_diameter_mm: diameter of the largest lesion.
        modality: T1 lesions are dark, so they are "lesions", not "hyperintensities".
    """
    if count <= 0:
        return NO_LESIONS
    if count > 1:
        return MULTIPLE_LESIONS
    return sized_lesion(largest_diameter_mm, modality)


def template_fields(template: str, known: Mapping[str, str] | tuple[str, ...] = ATTRIBUTES,
                    what: str = "prompt template") -> list[str]:
    """The attribute names used in ``template``, after checking each one is known.

    Raises:
        InvalidInputError: a field is unknown, positional (``{}``) or formatted (``{age:03d}``), or
            the braces do not match.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise InvalidInputError(f"The {what} {template!r} has unmatched braces ({error}); write literal braces as {{{{ and }}}}.") from None
    names: list[str] = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field or field.isdigit():
            raise InvalidInputError(f"The {what} {template!r} has an unnamed field '{{}}'; name it, e.g. {{age}}.")
        if spec or conversion:
            raise InvalidInputError(f"The {what} field {{{field}}} must not carry a format; write just {{{field.split('!')[0]}}}.")
        if field not in known:
            listing = "; ".join(f"{{{k}}}: {v}" for k, v in known.items()) if isinstance(known, Mapping) else ", ".join(f"{{{k}}}" for k in known)
            raise InvalidInputError(f"The {what} uses an unknown attribute {{{field}}}. Known attributes: {listing}.")
        if field not in names:
            names.append(field)
    return names


@dataclass(frozen=True)
class PromptTemplate:
    """A checked template; :meth:`render` fills it from a case's attributes.

    Args:
        text: the template text with ``{attribute}`` fields (see :data:`ATTRIBUTES`).
    """

    text: str

    def __post_init__(self) -> None:
        if not self.text or not self.text.strip():
            raise InvalidInputError(f"The prompt template is empty; give one such as {DEFAULT_TEMPLATE!r}.")
        template_fields(self.text)

    @property
    def fields(self) -> list[str]:
        return template_fields(self.text)

    def render(self, attributes: Mapping[str, Any], lesions: str) -> str:
        """The prompt for ``attributes`` (``modality``, ``age``, ``sex``, ``ventricles``) and a lesion phrase."""
        values = {
            "modality": MODALITY_WORDS.get(attributes.get("modality"), attributes.get("modality")),
            "age": attributes.get("age"),
            "sex": SEX_NOUNS.get(attributes.get("sex"), attributes.get("sex")),
            "ventricles": attributes.get("ventricles"),
            "lesions": lesions,
        }
        return _fix_articles(self.text.format(**{k: values[k] for k in self.fields}))


def render_lesion_prompt(template: str, count: int, largest_diameter_mm: float, modality: str) -> str:
    """The inpainting prompt of a case; ``template`` may use ``{lesions}``, ``{count}``, ``{size}``, ``{modality}``."""
    names = template_fields(template, LESION_PROMPT_FIELDS, "lesion prompt")
    values = {"lesions": lesion_phrase(count, largest_diameter_mm, modality), "count": count,
              "size": round(largest_diameter_mm), "modality": MODALITY_WORDS.get(modality, modality)}
    return _fix_articles(template.format(**{k: values[k] for k in names}))
