"""What a prompt says about lesions: one wanted, none wanted, and the size it names.

The inpainting U-Net's lesion attributes (``braingen3d.prompt_attributes``) and the engine's contrast
check (``braingen3d.inpaint.contrast_check``) read prompts with these patterns, so training captions
("a 9 mm white-matter hyperintensity", "no lesions") and user prompts are read alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
