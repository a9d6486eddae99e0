"""What a prompt says: its modality, age and sex, its ventricle finding, its lesion wording and lesion contrast.

The U-Nets' prompt attributes (``braingen3d.prompts.attributes``), structure guidance's targets and the
inpainting contrast check all read prompts with these patterns, so training captions and user prompts are
read alike.

Lesions: one wanted, none wanted, and the size it names.

The inpainting U-Net's lesion attributes (``braingen3d.prompts.attributes``) and the engine's contrast
check (``braingen3d.pipelines.inpaint.contrast_check``) read prompts with these patterns, so training captions
("a 9 mm white-matter hyperintensity", "no lesions") and user prompts are read alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..core.errors import InvalidInputError

NO_LESION = re.compile(r"\bno (?:[\w-]+ )?lesions?\b|\bwithout (?:[\w-]+ )?lesions?\b|\blesion[- ]free\b")
LESION_WORDS = re.compile(r"lesion|hyper[- ]?intens|hypo[- ]?intens|plaque|black[- ]hole")
# A size counts only a few words before the lesion noun, so "1 mm isotropic" elsewhere is not a lesion size.
_LESION_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*-?\s*mm\b(?:[\s,]+[\w-]+){0,3}?[\s,]+[\w-]*"
                          r"(?:lesion|hyper[- ]?intens|hypo[- ]?intens|plaque|black[- ]hole)")


@dataclass(frozen=True)
class LesionFinding:
    """A prompt's lesion wording: ``wanted`` (a lesion is named), ``unwanted`` ("no lesions") and its size."""

    wanted: bool
    unwanted: bool
    diameter_mm: float | None = None


def lesion_finding(prompt: str | None) -> LesionFinding:
    """The lesion wording of ``prompt`` ("no lesions" wins over the word "lesion" it contains)."""
    text = (prompt or "").lower()
    if NO_LESION.search(text):
        return LesionFinding(wanted=False, unwanted=True)
    if not LESION_WORDS.search(text):
        return LesionFinding(wanted=False, unwanted=False)
    size = _LESION_SIZE.search(text)
    return LesionFinding(wanted=True, unwanted=False, diameter_mm=float(size.group(1)) if size else None)


_MODALITY_PATTERNS = (
    ("FLAIR", re.compile(r"\bFLAIR\b", re.IGNORECASE)),
    ("PD", re.compile(r"\bproton[- ]density\b|\bPD\b", re.IGNORECASE)),
    ("T1", re.compile(r"\bT1\b|\bT1[- ]?w", re.IGNORECASE)),
    ("T2", re.compile(r"\bT2\b|\bT2[- ]?w", re.IGNORECASE)),
)
# "T2-FLAIR" (and "T2w FLAIR", "T2-weighted FLAIR") is the usual name of FLAIR, not two contrasts.
_T2_FLAIR = re.compile(r"\bT2(?:[- ]?w(?:eighted)?)?[- ]FLAIR\b", re.IGNORECASE)


def _modality_matches(prompt: str) -> list[tuple[str, str]]:
    """(modality, the words) of every contrast the prompt names, "T2-FLAIR" read as FLAIR."""
    text = _T2_FLAIR.sub("FLAIR", prompt or "")
    return [(name, match.group(0)) for name, pattern in _MODALITY_PATTERNS for match in [pattern.search(text)] if match]


_AGE_PATTERNS = (re.compile(r"\b(\d{1,3})[- ]years?[- ]old\b", re.IGNORECASE), re.compile(r"\baged (\d{1,3})\b", re.IGNORECASE),
                 re.compile(r"\b(\d{1,3}) years\b", re.IGNORECASE))
_FEMALE = re.compile(r"\b(woman|female|girl|lady)\b", re.IGNORECASE)
_MALE = re.compile(r"\b(man|male|boy|gentleman)\b", re.IGNORECASE)


MAX_AGE = 120
"""Ages above this (or below 0) are refused: no subject of the training data, nor any person, is that old."""
# Any number before an age word, with an optional minus sign, so impossible ages are seen too.
_ANY_AGE = (re.compile(r"(?<![\w.])((?:-|\u2212|minus\s*)?\d+(?:\.\d+)?)[- ]years?[- ]old\b", re.IGNORECASE),
            re.compile(r"\baged\s+((?:-|\u2212|minus\s*)?\d+(?:\.\d+)?)(?![\w.])", re.IGNORECASE),
            re.compile(r"(?<![\w.])((?:-|\u2212|minus\s*)?\d+(?:\.\d+)?) years\b(?![- ]old)", re.IGNORECASE))


def check_text(text: str, what: str = "prompt") -> None:
    """Refuse text that cannot be encoded: invalid UTF-8 bytes (kept as lone surrogates by Python) or NUL.

    Raises:
        InvalidInputError: naming the position of the first bad character.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        detail = f"byte 0x{ord(bad) - 0xDC00:02x}" if 0xDC80 <= ord(bad) <= 0xDCFF else f"U+{ord(bad):04X}"
        raise InvalidInputError(
            f"The {what} is not valid UTF-8 text: character {exc.start + 1} is an invalid {detail}. Retype the "
            "text, or set the terminal (or the file the text came from) to UTF-8."
        ) from None
    if "\x00" in text:
        raise InvalidInputError(f"The {what} contains a NUL character (position {text.index(chr(0)) + 1}); remove it.")


def _ages(prompt: str) -> list[tuple[str, float]]:
    """Every age the prompt states: (the words, the value), negative values included."""
    found: list[tuple[int, str, float]] = []
    for pattern in _ANY_AGE:
        for match in pattern.finditer(prompt):
            number = re.sub(r"^(?:-|\u2212|minus\s*)", "-", match.group(1), flags=re.IGNORECASE)
            found.append((match.start(), match.group(0), float(number)))
    return [(words, value) for _, words, value in sorted(found)]


def check_prompt(prompt: str) -> None:
    """Refuse a prompt that cannot be encoded, states an impossible age, or contradicts itself (two ages, both
    sexes, two modalities, enlarged and normal ventricles), naming the words.

    Raises:
        InvalidInputError: naming the words and the fix.
    """
    check_text(prompt, "prompt")
    ages = _ages(prompt)
    for words, value in ages:
        if not 0 <= value <= MAX_AGE:
            raise InvalidInputError(f"The prompt's age '{words}' is impossible; give an age from 0 to {MAX_AGE} years.")
    if len({value for _, value in ages}) > 1:
        raise InvalidInputError(f"The prompt states two ages ({', '.join(repr(w) for w, _ in ages)}); keep one.")
    female, male = _FEMALE.search(prompt), _MALE.search(prompt)
    if female and male:
        raise InvalidInputError(f"The prompt names both sexes ('{female.group(0)}' and '{male.group(0)}'); keep one.")
    modalities = _modality_matches(prompt)
    if len(modalities) > 1:
        words = " and ".join(f"'{word}'" for _, word in modalities)
        raise InvalidInputError(f"The prompt names {len(modalities)} modalities ({words}); a volume has one "
                                "contrast, keep one.")
    ventricle_finding(prompt)


def facts_from_prompt(prompt: str) -> dict[str, Any]:
    """Modality, age and sex a prompt asks for, where its wording says so unambiguously.

    Returns:
        a dict with any of ``modality`` (T1/T2/FLAIR/PD), ``age`` (int) and ``sex`` (F/M).
    """
    facts: dict[str, Any] = {}
    found = [name for name, _ in _modality_matches(prompt)]
    if len(found) == 1:
        facts["modality"] = found[0]
    for pattern in _AGE_PATTERNS:
        match = pattern.search(prompt or "")
        if match and 0 < int(match.group(1)) < 130:
            facts["age"] = int(match.group(1))
            break
    female, male = bool(_FEMALE.search(prompt or "")), bool(_MALE.search(prompt or ""))
    if female != male:
        facts["sex"] = "F" if female else "M"
    return facts


_ENLARGED_VENTRICLES = re.compile(r"\b(enlarged|dilated|large|prominent)\s+(lateral\s+)?ventricles\b|\bventriculomegaly\b", re.I)
_NORMAL_VENTRICLES = re.compile(r"\bnormal(?:[- ]sized)?\s+(lateral\s+)?ventricles\b", re.I)


def ventricle_finding(prompt: str) -> str | None:
    """``enlarged``, ``normal`` or None from the prompt's wording (contradictory wording is refused)."""
    enlarged, normal = bool(_ENLARGED_VENTRICLES.search(prompt or "")), bool(_NORMAL_VENTRICLES.search(prompt or ""))
    if enlarged and normal:
        words = f"'{_ENLARGED_VENTRICLES.search(prompt).group(0)}' and '{_NORMAL_VENTRICLES.search(prompt).group(0)}'"
        raise InvalidInputError(f"The prompt asks for both enlarged and normal ventricles ({words}); keep one.")
    return "enlarged" if enlarged else "normal" if normal else None


HYPERINTENSE = "hyperintense"
HYPOINTENSE = "hypointense"
_HYPER_WORDS = re.compile(r"hyper[- ]?intens|\bbright|\bhigh[- ]signal")
_HYPO_WORDS = re.compile(r"hypo[- ]?intens|\bdark|\blow[- ]signal|black[- ]hole")


def requested_contrast(prompt: str) -> str | None:
    """``hyperintense``, ``hypointense`` or None (no contrast named, no lesion wanted, or both named)."""
    text = prompt.lower()
    if NO_LESION.search(text):
        return None
    hyper, hypo = bool(_HYPER_WORDS.search(text)), bool(_HYPO_WORDS.search(text))
    if hyper == hypo:
        return None
    return HYPERINTENSE if hyper else HYPOINTENSE
