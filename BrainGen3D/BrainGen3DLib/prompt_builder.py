"""Quick-pick choices (modality, age, sex, ventricles, lesions) and the prompt text they compose.

The quick picks only write text: the prompt stays free text that the user may edit, and the
engine sees nothing but that text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .i18n import _

ANY_AGE = 0
MAX_AGE = 95


class Modality(enum.Enum):
    """MRI contrast; the values are the modality strings of the engine (docs/architecture.md)."""

    T1 = "T1"
    T2 = "T2"
    FLAIR = "FLAIR"
    PD = "PD"

    def label(self) -> str:
        return {
            Modality.T1: _("T1-weighted"),
            Modality.T2: _("T2-weighted"),
            Modality.FLAIR: _("FLAIR"),
            Modality.PD: _("PD-weighted"),
        }[self]

    @property
    def phrase(self) -> str:
        return {Modality.T1: "T1-weighted", Modality.T2: "T2-weighted", Modality.FLAIR: "FLAIR",
                Modality.PD: "proton-density-weighted"}[self]


class Sex(enum.Enum):
    ANY = "any"
    FEMALE = "female"
    MALE = "male"

    def label(self) -> str:
        return {Sex.ANY: _("any"), Sex.FEMALE: _("female"), Sex.MALE: _("male")}[self]


class Ventricles(enum.Enum):
    ANY = "any"
    NORMAL = "normal"
    ENLARGED = "enlarged"

    def label(self) -> str:
        return {Ventricles.ANY: _("any"), Ventricles.NORMAL: _("normal"), Ventricles.ENLARGED: _("enlarged")}[self]


class Lesions(enum.Enum):
    ANY = "any"
    NONE = "none"
    ONE = "one"
    MULTIPLE = "multiple"

    def label(self) -> str:
        return {Lesions.ANY: _("any"), Lesions.NONE: _("none"), Lesions.ONE: _("one"),
                Lesions.MULTIPLE: _("multiple")}[self]


@dataclass(frozen=True)
class QuickPicks:
    """The quick-pick state. ``age`` is in years; ``ANY_AGE`` (0) leaves age out of the prompt."""

    modality: Modality = Modality.T1
    age: int = ANY_AGE
    sex: Sex = Sex.ANY
    ventricles: Ventricles = Ventricles.ANY
    lesions: Lesions = Lesions.ANY


def _article(word: str) -> str:
    """``an`` before a spoken vowel (an 80-year-old, an 18-year-old, an 11-year-old), else ``a``."""
    spoken_vowel = word[:1].lower() in "aeiou" or word.startswith(("8", "11-", "18-"))
    return "an" if spoken_vowel else "a"


def _join_and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def compose_prompt(picks: QuickPicks) -> str:
    """Compose English prompt text from the quick picks, in the training captions' wording.

    The phrases are those of ``training/captions/phrases.py`` (its first sentence template), so the
    text encoder sees the wording the model was trained on. The prompt is English whatever the
    interface language.

    Args:
        picks: the quick-pick state; ``any`` leaves a part out.

    Returns:
        e.g. ``"FLAIR MRI of a 72-year-old man with enlarged ventricles and multiple white-matter
        lesions"``.
    """
    noun = {Sex.ANY: "person", Sex.FEMALE: "woman", Sex.MALE: "man"}[picks.sex]
    subject = f"{picks.age}-year-old {noun}" if picks.age != ANY_AGE else noun
    findings = []
    if picks.ventricles != Ventricles.ANY:
        findings.append(f"{picks.ventricles.value} ventricles")
    if picks.lesions != Lesions.ANY:
        findings.append({Lesions.NONE: "no lesions", Lesions.ONE: "a white-matter lesion",
                         Lesions.MULTIPLE: "multiple white-matter lesions"}[picks.lesions])
    text = f"{picks.modality.phrase} MRI of {_article(subject)} {subject}"
    if findings:
        text += " with " + _join_and(findings)
    return text[:1].upper() + text[1:]
