"""Caption vocabulary: phrases for modality, patient data and findings, and sentence templates.

The finding phrases are fixed strings so that the text encoder sees one wording per finding
(the engine's prompt builder should use the same strings):

* ventricles, always exactly one: ``normal ventricles`` or ``enlarged ventricles`` (z > 1 against
  the age/sex norm). There is deliberately no "small ventricles": small ventricles are normal
  anatomy for the young and not a finding a user asks for, and a third class would halve the
  training examples of the two that matter.
* grey matter, only when reduced: ``reduced grey-matter volume`` (z < -1).
* lesions, always exactly one: ``no lesions``, ``a white-matter lesion`` (or, as a paraphrase, its
  size: ``a 12 mm white-matter hyperintensity``; "lesion" on T1, where lesions are dark) or
  ``multiple white-matter lesions``.
"""

from __future__ import annotations

import numpy as np

VENTRICLES_ENLARGED_Z = 1.0
GREY_MATTER_REDUCED_Z = -1.0

MODALITY_NAMES = {
    "T1": ("T1-weighted", "T1"),
    "T2": ("T2-weighted", "T2"),
    "FLAIR": ("FLAIR", "FLAIR"),
    "PD": ("proton-density-weighted", "PD"),
}
"""Modality -> (long name, short name)."""

SEX_WORDS = {"F": ("woman", "female"), "M": ("man", "male")}
"""Sex -> (noun, adjective)."""


def ventricle_phrase(z: float) -> str:
    """``enlarged ventricles`` when ``z`` exceeds 1, else ``normal ventricles``."""
    return "enlarged ventricles" if z > VENTRICLES_ENLARGED_Z else "normal ventricles"


def grey_matter_phrase(z: float) -> str | None:
    """``reduced grey-matter volume`` when ``z`` is below -1, else nothing."""
    return "reduced grey-matter volume" if z < GREY_MATTER_REDUCED_Z else None


def lesion_phrase(count: int, diameter_mm: float, modality: str | None, rng: np.random.Generator) -> str:
    """The lesion phrase; a single lesion is described by its size in one of three paraphrases.

    Args:
        count: number of lesions.
        diameter_mm: equivalent diameter of the largest lesion.
        modality: the image's modality (T1 lesions are not "hyperintensities").
        rng: random generator choosing the paraphrase.
    """
    if count <= 0:
        return "no lesions"
    if count > 1:
        return "multiple white-matter lesions"
    if diameter_mm > 0 and rng.random() < 1.0 / 3.0:
        noun = "lesion" if modality == "T1" else "hyperintensity"
        size = str(int(round(diameter_mm)))
        return f"{article(size)} {size} mm white-matter {noun}"
    return "a white-matter lesion"


def join_and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def article(word: str) -> str:
    """``a`` or ``an`` for a spoken number or word (an 18-, 80-, 8x-, 11-year-old...)."""
    spoken_vowel = word[:1].lower() in "aeiou" or word.startswith(("8", "11-", "18-")) or word in ("11", "18")
    return "an" if spoken_vowel else "a"


def compose(
    template: int,
    modality: str | None,
    age: int | None,
    sex: str | None,
    findings: list[str],
) -> str:
    """One sentence from its parts with sentence template number ``template`` (0-4).

    Missing parts (unknown modality, age or sex; no findings) are left out gracefully.
    """
    sentence = _compose(template, modality, age, sex, findings)
    return sentence[:1].upper() + sentence[1:]


def _compose(
    template: int,
    modality: str | None,
    age: int | None,
    sex: str | None,
    findings: list[str],
) -> str:
    long_name, short_name = MODALITY_NAMES.get(modality, ("", ""))
    noun, adjective = SEX_WORDS.get(sex, ("person", ""))
    age_adjective = f"{age}-year-old" if age is not None else ""
    template %= 5
    if template == 0:  # T2-weighted MRI of a 72-year-old woman with enlarged ventricles and no lesions
        head = f"{long_name} MRI".strip() if long_name else "Brain MRI"
        subject = " ".join(part for part in (age_adjective, noun) if part)
        tail = f" with {join_and(findings)}" if findings else ""
        return f"{head} of {article(subject)} {subject}{tail}"
    if template == 1:  # Brain MRI, FLAIR, male, 45 years, normal ventricles, no lesions
        parts = ["Brain MRI", short_name, adjective, f"{age} years" if age is not None else ""]
        return ", ".join(part for part in [*parts, *findings] if part)
    if template == 2:  # 72-year-old woman, T1-weighted brain MRI: normal ventricles, no lesions
        subject = " ".join(part for part in (age_adjective, noun if sex else "") if part) or "Subject"
        scan = f"{long_name} brain MRI" if long_name else "brain MRI"
        tail = f": {', '.join(findings)}" if findings else ""
        return f"{subject[0].upper()}{subject[1:]}, {scan}{tail}"
    if template == 3:  # FLAIR brain scan, female patient aged 72, with ... and ...
        scan = f"{long_name} brain scan" if long_name else "Brain scan"
        patient = " ".join(part for part in (adjective, "patient") if part)
        aged = f" aged {age}" if age is not None else ""
        tail = f", with {join_and(findings)}" if findings else ""
        return f"{scan}, {patient}{aged}{tail}"
    # MRI (PD): 72-year-old man; enlarged ventricles; multiple white-matter lesions
    head = f"MRI ({short_name})" if short_name else "MRI"
    subject = " ".join(part for part in (age_adjective, noun if sex else "") if part)
    return "; ".join(part for part in [f"{head}: {subject}" if subject else head, *findings] if part)
