"""Quick-pick choices (modality, age, sex, ventricles, lesions) and the prompt text they compose.

The quick picks only write text: the prompt stays free text that the user may edit, and the engine sees
nothing but that text. The words are the engine's caption vocabulary (``braingen3d.prompts.vocabulary``, the
training captions' wording), loaded without importing the rest of the engine, so the panel never imports
torch.
"""

from __future__ import annotations

import enum
import importlib.util
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from .bundle_card import engine_package_folder, source_checkout_root
from .i18n import _

ANY_AGE = 0
MAX_AGE = 95
VOCABULARY_FILE = ("prompts", "vocabulary.py")


class VocabularyMissingError(RuntimeError):
    """The engine (and with it the caption vocabulary) is not installed yet; the message says what to do."""


@cache
def vocabulary() -> ModuleType:
    """The engine's caption vocabulary module, from the installed engine or else this source checkout.

    It is loaded from its file, so neither the engine package nor torch is imported into Slicer's process.

    Raises:
        VocabularyMissingError: neither the engine nor a source checkout is present.
    """
    folders = [engine_package_folder()]
    checkout = source_checkout_root()
    folders.append(None if checkout is None else checkout / "src" / "braingen3d")
    for folder in folders:
        path = None if folder is None else folder.joinpath(*VOCABULARY_FILE)
        if path is not None and path.is_file():
            spec = importlib.util.spec_from_file_location("braingen3d_caption_vocabulary", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise VocabularyMissingError(_("The quick picks use the BrainGen3D engine's wording, and the engine is not "
                                   "installed yet. Type a prompt, or press Generate once to install the engine."))


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
        """The modality's words in the prompt (the training captions')."""
        return vocabulary().MODALITY_WORDS[self.value]


class Sex(enum.Enum):
    ANY = "any"
    FEMALE = "female"
    MALE = "male"

    def label(self) -> str:
        return {Sex.ANY: _("any"), Sex.FEMALE: _("female"), Sex.MALE: _("male")}[self]

    @property
    def noun(self) -> str:
        words = vocabulary()
        return {Sex.ANY: words.UNKNOWN_SEX_NOUN, Sex.FEMALE: words.SEX_NOUNS["F"], Sex.MALE: words.SEX_NOUNS["M"]}[self]


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

    @property
    def phrase(self) -> str:
        words = vocabulary()
        return {Lesions.NONE: words.NO_LESIONS, Lesions.ONE: words.ONE_LESION,
                Lesions.MULTIPLE: words.MULTIPLE_LESIONS}[self]


@dataclass(frozen=True)
class QuickPicks:
    """The quick-pick state. ``age`` is in years; ``ANY_AGE`` (0) leaves age out of the prompt."""

    modality: Modality = Modality.T1
    age: int = ANY_AGE
    sex: Sex = Sex.ANY
    ventricles: Ventricles = Ventricles.ANY
    lesions: Lesions = Lesions.ANY


def compose_prompt(picks: QuickPicks) -> str:
    """Compose English prompt text from the quick picks, in the training captions' wording (their first sentence
    template). The prompt is English whatever the interface language.

    Args:
        picks: the quick-pick state; ``any`` leaves a part out.

    Returns:
        e.g. ``"FLAIR MRI of a 72-year-old man with enlarged ventricles and multiple white-matter
        lesions"``.

    Raises:
        VocabularyMissingError: the engine is not installed yet.
    """
    words = vocabulary()
    noun = picks.sex.noun
    subject = f"{picks.age}-year-old {noun}" if picks.age != ANY_AGE else noun
    findings = []
    if picks.ventricles != Ventricles.ANY:
        findings.append(words.ventricle_phrase(picks.ventricles.value))
    if picks.lesions != Lesions.ANY:
        findings.append(picks.lesions.phrase)
    text = f"{picks.modality.phrase} MRI of {words.article(subject)} {subject}"
    if findings:
        text += " with " + words.join_and(findings)
    return text[:1].upper() + text[1:]
