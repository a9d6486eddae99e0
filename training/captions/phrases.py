"""Caption phrases: modality, patient data and findings, and the five sentence templates.

The words are the engine's caption vocabulary (``braingen3d.prompts.vocabulary``), shared with the batch
prompt templates, the evaluation prompts and the Slicer panel, so that the text encoder sees one wording per
finding at training and at inference. This module adds what only training needs: which z-scores count as a
finding, and the paraphrases that vary the sentences.
"""

from __future__ import annotations

import numpy as np

from braingen3d.prompts.vocabulary import (
    MODALITY_WORDS,
    MULTIPLE_LESIONS,
    NO_LESIONS,
    ONE_LESION,
    REDUCED_GREY_MATTER,
    SEX_ADJECTIVES,
    SEX_NOUNS,
    UNKNOWN_SEX_NOUN,
    article,
    join_and,
    sized_lesion,
)
from braingen3d.prompts.vocabulary import (
    ventricle_phrase as _ventricle_words,
)

VENTRICLES_ENLARGED_Z = 1.0
GREY_MATTER_REDUCED_Z = -1.0

MODALITY_NAMES = {modality: (long_name, modality) for modality, long_name in MODALITY_WORDS.items()}
"""Modality -> (long name, short name)."""

SEX_WORDS = {sex: (SEX_NOUNS[sex], SEX_ADJECTIVES[sex]) for sex in SEX_NOUNS}
"""Sex -> (noun, adjective)."""


def ventricle_phrase(z: float) -> str:
    """``enlarged ventricles`` when ``z`` exceeds 1, else ``normal ventricles``."""
    return _ventricle_words("enlarged" if z > VENTRICLES_ENLARGED_Z else "normal")


def grey_matter_phrase(z: float) -> str | None:
    """``reduced grey-matter volume`` when ``z`` is below -1, else nothing."""
    return REDUCED_GREY_MATTER if z < GREY_MATTER_REDUCED_Z else None


def lesion_phrase(count: int, diameter_mm: float, modality: str | None, rng: np.random.Generator) -> str:
    """The lesion phrase; a single lesion is described by its size in one of three paraphrases.

    Args:
        count: number of lesions.
        diameter_mm: equivalent diameter of the largest lesion.
        modality: the image's modality (T1 lesions are not "hyperintensities").
        rng: random generator choosing the paraphrase.
    """
    if count <= 0:
        return NO_LESIONS
    if count > 1:
        return MULTIPLE_LESIONS
    if diameter_mm > 0 and rng.random() < 1.0 / 3.0:
        return sized_lesion(diameter_mm, modality)
    return ONE_LESION


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
    noun, adjective = SEX_WORDS.get(sex, (UNKNOWN_SEX_NOUN, ""))
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
