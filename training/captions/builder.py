"""Captions for training volumes: atlas/structure findings, patient data and modality in words."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from braingen3d.core.errors import InvalidInputError

from .measure import MEASUREMENT_COLUMNS, structure_volumes
from .norms import CohortNorms, parse_age, parse_sex
from .phrases import MODALITY_NAMES, compose, grey_matter_phrase, lesion_phrase, ventricle_phrase

logger = logging.getLogger(__name__)

NUM_TEMPLATES = 5


@dataclass(frozen=True)
class CaptionFacts:
    """What a caption may say about one record.

    Attributes:
        modality: ``T1``, ``T2``, ``FLAIR``, ``PD`` or None.
        age: age in whole years or None.
        sex: ``F``, ``M`` or None.
        ventricles: ventricle phrase, or None without measurements.
        grey_matter: grey-matter phrase or None.
        lesion_count: number of lesions, or None without measurements.
        lesion_diameter_mm: equivalent diameter of the largest lesion.
        ventricles_z: ventricle z-score against the norm (None without measurements).
        grey_matter_z: GM z-score (None without measurements).
    """

    modality: str | None
    age: int | None
    sex: str | None
    ventricles: str | None
    grey_matter: str | None
    lesion_count: int | None
    lesion_diameter_mm: float
    ventricles_z: float | None
    grey_matter_z: float | None


@functools.lru_cache(maxsize=4096)
def _measure_files(tissue_map: str, lesion_mask: str | None) -> dict[str, float]:
    import nibabel as nib

    image = nib.load(tissue_map)
    lesion = np.asarray(nib.load(lesion_mask).dataobj) if lesion_mask else None
    return structure_volumes(np.asarray(image.dataobj), image.affine, lesion)


class CaptionBuilder:
    """Builds paraphrased captions for manifest records from measured structure volumes.

    Findings come from z-scores of the record's volumes against cohort norms (see
    :mod:`training.captions.phrases` for the thresholds and wording). Volumes are read from the
    record's measurement columns (``ventricles_ml``, ``gm_ml``, ``lesion_count``, ...) when present,
    else measured from its ``tissue_map`` (and ``lesion_mask``) file. A non-empty ``caption``
    column overrides everything.

    Args:
        norms: cohort norms (e.g. ``CohortNorms.load(cohort_dir / "norms.json")``).
        root: folder that relative paths in records are relative to (the manifest's folder);
            default the current directory.
        drop_probability: probability of leaving out the age and, independently, the sex in a
            caption, so the model also learns from prompts that omit them (0 disables).
    """

    def __init__(self, norms: CohortNorms | None, root: str | Path | None = None, drop_probability: float = 0.1) -> None:
        if not 0.0 <= drop_probability < 1.0:
            raise InvalidInputError(f"drop_probability must be in [0, 1); got {drop_probability}.")
        self.norms = norms
        self.root = Path(root) if root is not None else None
        self.drop_probability = drop_probability

    def _resolve(self, value: object) -> str | None:
        text = str(value or "").strip()
        if not text:
            return None
        path = Path(text)
        if not path.is_absolute() and self.root is not None:
            path = self.root / path
        return str(path)

    def measurements(self, record: Mapping[str, object]) -> dict[str, float] | None:
        """The record's volumes: its measurement columns, else measured from its tissue map, else None."""
        if str(record.get("ventricles_ml", "") or "").strip():
            values = {}
            for column in MEASUREMENT_COLUMNS:
                text = str(record.get(column, "") or "").strip()
                if text:
                    try:
                        values[column] = float(text)
                    except ValueError as error:
                        raise InvalidInputError(f"Column {column} of subject {record.get('subject_id')!r} is not a number: {text!r}.") from error
            return values
        tissue_map = self._resolve(record.get("tissue_map"))
        if tissue_map is None:
            return None
        return _measure_files(tissue_map, self._resolve(record.get("lesion_mask")))

    def facts(self, record: Mapping[str, object]) -> CaptionFacts:
        """Parse and measure what the captions of ``record`` will say."""
        modality = str(record.get("modality", "") or "").strip() or None
        if modality is not None and modality not in MODALITY_NAMES:
            raise InvalidInputError(f"Modality {modality!r} of subject {record.get('subject_id')!r} is not one of {sorted(MODALITY_NAMES)}.")
        age = parse_age(record.get("age"))
        sex = parse_sex(record.get("sex"))
        volumes = self.measurements(record)
        ventricles = grey = None
        ventricles_z = grey_z = None
        lesions = None
        diameter = 0.0
        if volumes is not None:
            if self.norms is None:
                raise InvalidInputError("Captions with findings need cohort norms; pass CohortNorms to CaptionBuilder.")
            if "ventricles_ml" in volumes:
                ventricles_z = self.norms.zscore("ventricles_ml", volumes["ventricles_ml"], age, sex, volumes.get("icv_ml"))
                ventricles = ventricle_phrase(ventricles_z)
            if "gm_ml" in volumes:
                grey_z = self.norms.zscore("gm_ml", volumes["gm_ml"], age, sex, volumes.get("icv_ml"))
                grey = grey_matter_phrase(grey_z)
            if "lesion_count" in volumes:
                lesions = int(volumes["lesion_count"])
                diameter = float(volumes.get("lesion_max_diameter_mm", 0.0))
        return CaptionFacts(
            modality=modality,
            age=int(round(age)) if age is not None else None,
            sex=sex,
            ventricles=ventricles,
            grey_matter=grey,
            lesion_count=lesions,
            lesion_diameter_mm=diameter,
            ventricles_z=ventricles_z,
            grey_matter_z=grey_z,
        )

    def caption(self, record: Mapping[str, object], rng: np.random.Generator) -> str:
        """One caption for ``record``, paraphrase chosen with ``rng``.

        Args:
            record: a manifest row (csv.DictReader strings are fine).
            rng: random generator (choose the paraphrase, the lesion wording and what to drop).
        """
        override = str(record.get("caption", "") or "").strip()
        if override:
            return override
        facts = self.facts(record)
        return self._compose(facts, rng)

    def _compose(self, facts: CaptionFacts, rng: np.random.Generator, template: int | None = None) -> str:
        if template is None:
            template = int(rng.integers(NUM_TEMPLATES))
        keep_age = rng.random() >= self.drop_probability
        keep_sex = rng.random() >= self.drop_probability
        findings = [phrase for phrase in (facts.ventricles, facts.grey_matter) if phrase]
        if facts.lesion_count is not None:
            findings.append(lesion_phrase(facts.lesion_count, facts.lesion_diameter_mm, facts.modality, rng))
        return compose(template, facts.modality, facts.age if keep_age else None, facts.sex if keep_sex else None, findings)

    def captions(self, record: Mapping[str, object], n: int, seed: int) -> list[str]:
        """``n`` captions for ``record``, identical for the same ``seed``.

        Args:
            record: a manifest row.
            n: number of captions.
            seed: random seed.
        """
        if n < 0:
            raise InvalidInputError(f"n must be non-negative; got {n}.")
        override = str(record.get("caption", "") or "").strip()
        if override:
            return [override] * n
        facts = self.facts(record)
        rng = np.random.default_rng(seed)
        # Cycle through the sentence templates in a random order so the n captions differ.
        order = rng.permutation(NUM_TEMPLATES)
        return [self._compose(facts, rng, int(order[i % NUM_TEMPLATES])) for i in range(n)]
