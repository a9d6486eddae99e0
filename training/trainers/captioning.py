"""Captions for training samples: the manifest's override, else a fresh paraphrase from the caption builder.

The caption builder (``training.captions.CaptionBuilder``) is imported lazily. If it is not
installed, a minimal local builder writes "<modality> MRI of a <age>-year-old <sex>" and a warning
says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np

logger = logging.getLogger(__name__)

_SEX_WORDS = {"M": "male", "F": "female", "male": "male", "female": "female"}


class _Builder(Protocol):
    def caption(self, record: dict[str, Any], rng: np.random.Generator) -> str: ...


class MinimalCaptionBuilder:
    """Fallback builder: one fixed phrasing from modality, age and sex."""

    def caption(self, record: dict[str, Any], rng: np.random.Generator) -> str:
        parts = [f"{record.get('modality') or 'brain'} MRI of a"]
        age = record.get("age")
        if age not in (None, ""):
            parts.append(f"{float(age):.0f}-year-old")
        parts.append(_SEX_WORDS.get(str(record.get("sex", "")), "adult"))
        return " ".join(parts)


def load_caption_builder(manifest_path: Path) -> tuple[_Builder, str]:
    """The project's caption builder with the cohort's norms, or the minimal fallback.

    Returns:
        The builder and a short description of which one it is (recorded in the bundle).
    """
    try:
        from training.captions import CaptionBuilder, CohortNorms
    except ImportError as exc:
        logger.warning("training.captions is not available (%s); using the minimal caption builder.", exc)
        return MinimalCaptionBuilder(), "minimal (training.captions unavailable)"
    norms_path = Path(manifest_path).parent / "norms.json"
    if not norms_path.is_file():
        logger.warning("No norms.json next to %s: captions name modality, age and sex but no findings.", manifest_path)
        return MinimalCaptionBuilder(), "minimal (no norms.json next to the manifest)"
    builder = CaptionBuilder(CohortNorms.load(norms_path), root=Path(manifest_path).parent)
    return builder, "training.captions.CaptionBuilder with the cohort's norms.json"


class CaptionSource:
    """Draws a caption for a manifest row: its ``caption`` column if set, else a new paraphrase.

    Every call draws afresh from ``rng``, so a subject is seen with many phrasings over training.

    Args:
        builder: an object with ``caption(record_dict, rng) -> str``.
    """

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder

    def __call__(self, fields: Mapping[str, str], rng: np.random.Generator) -> str:
        override = str(fields.get("caption", "") or "").strip()
        if override:
            return override
        return self.builder.caption(fields, rng)
