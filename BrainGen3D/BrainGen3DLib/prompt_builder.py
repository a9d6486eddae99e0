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
                Modality.PD: "proton density-weighted"}[self]


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


def compose_prompt(picks: QuickPicks) -> str:
    """Compose English prompt text from the quick picks.

    The prompt is English whatever the interface language, because the text encoder was trained on
    English captions.

    Args:
        picks: the quick-pick state.

    Returns:
        e.g. ``"T1-weighted brain MRI of a 72-year-old male with enlarged ventricles and multiple
        white matter lesions"``.
    """
    subject = "brain MRI"
    if picks.age != ANY_AGE and picks.sex != Sex.ANY:
        subject += f" of a {picks.age}-year-old {picks.sex.value}"
    elif picks.age != ANY_AGE:
        subject += f" of a {picks.age}-year-old adult"
    elif picks.sex != Sex.ANY:
        subject += f" of a {picks.sex.value} adult"

    findings = []
    if picks.ventricles == Ventricles.NORMAL:
        findings.append("normal-sized ventricles")
    elif picks.ventricles == Ventricles.ENLARGED:
        findings.append("enlarged ventricles")
    if picks.lesions == Lesions.NONE:
        findings.append("no white matter lesions")
    elif picks.lesions == Lesions.ONE:
        findings.append("a single white matter lesion")
    elif picks.lesions == Lesions.MULTIPLE:
        findings.append("multiple white matter lesions")

    text = f"{picks.modality.phrase} {subject}"
    if findings:
        text += " with " + " and ".join(findings)
    return text
