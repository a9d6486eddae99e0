"""The caption vocabulary: the words for modality, age, sex, ventricles and lesions the bundles were trained on.

One definition for everything that writes prompts: the training captions (``training/captions/phrases.py``),
the batch prompt templates (``braingen3d.batch.prompt_templates``), the evaluation prompts
(``training/evaluation/adherence.py``) and the Slicer panel's quick picks (``BrainGen3DLib/prompt_builder.py``).
The parser that reads prompts (``braingen3d.prompts.parser``) reads every phrase written here; the text encoder
sees one wording per finding.

Findings, with fixed phrases:

* ventricles: ``normal ventricles`` or ``enlarged ventricles``. There is deliberately no "small ventricles":
  small ventricles are normal anatomy for the young and not a finding a user asks for.
* grey matter, only when reduced: ``reduced grey-matter volume``.
* lesions: ``no lesions``, ``a white-matter lesion`` (or its size: ``a 12 mm white-matter hyperintensity``;
  "lesion" on T1, where lesions are dark) or ``multiple white-matter lesions``.

It imports only the standard library and nothing else of the engine, so the Slicer panel can load it without
torch.
"""

from __future__ import annotations

import re

MODALITIES = ("T1", "T2", "FLAIR", "PD")
"""The contrasts, in the order the prompt attribute vector uses."""
MODALITY_WORDS = {"T1": "T1-weighted", "T2": "T2-weighted", "FLAIR": "FLAIR", "PD": "proton-density-weighted"}
"""Modality -> its long name in prompts ("T2-weighted MRI of ..."); the short name is the modality itself."""

SEX_NOUNS = {"F": "woman", "M": "man"}
SEX_ADJECTIVES = {"F": "female", "M": "male"}
UNKNOWN_SEX_NOUN = "person"

VENTRICLE_FINDINGS = ("normal", "enlarged")
"""``{finding} ventricles``."""
VENTRICLES_WORD = "ventricles"
REDUCED_GREY_MATTER = "reduced grey-matter volume"

NO_LESIONS = "no lesions"
ONE_LESION = "a white-matter lesion"
MULTIPLE_LESIONS = "multiple white-matter lesions"


def ventricle_phrase(finding: str) -> str:
    """``normal ventricles`` or ``enlarged ventricles``."""
    if finding not in VENTRICLE_FINDINGS:
        raise ValueError(f"Unknown ventricle finding {finding!r}; one of {VENTRICLE_FINDINGS}.")
    return f"{finding} {VENTRICLES_WORD}"


def lesion_noun(modality: str | None) -> str:
    """``lesion`` on T1 (lesions are dark there), else ``hyperintensity``."""
    return "lesion" if modality == "T1" else "hyperintensity"


def sized_lesion(diameter_mm: float, modality: str | None) -> str:
    """One lesion by its size: ``a 12 mm white-matter hyperintensity`` (``lesion`` on T1)."""
    size = str(int(round(diameter_mm)))
    return f"{article(size)} {size} mm white-matter {lesion_noun(modality)}"


def article(word: str) -> str:
    """``a`` or ``an`` before a word as it is spoken: an 8 mm, an 80-year-old, an 11-, an 18-year-old, a 12 mm."""
    number = re.match(r"\d+", word)
    if number:
        digits = number.group(0)
        return "an" if digits.startswith("8") or digits in ("11", "18") else "a"
    return "an" if word[:1].lower() in "aeiou" else "a"


def join_and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
