"""Cohort norms: expected structure volume as a function of age and sex, with residual spread."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from braingen3d.core.errors import InvalidInputError
from braingen3d.sampling.structure_guidance import AGE_CENTRE, AGE_UNIT, ICV_CENTRE, ICV_UNIT, expected_volume

from ..data.atomic import write_text_atomic
from .measure import STRUCTURES

logger = logging.getLogger(__name__)

NORMS_FORMAT_VERSION = 1
MAD_TO_SD = 1.4826


def parse_sex(value: object) -> str | None:
    """``"F"``, ``"M"`` or None from common spellings (F/M, female/male, woman/man, 1/2 not accepted)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("f", "female", "woman", "w"):
        return "F"
    if text in ("m", "male", "man"):
        return "M"
    if text in ("", "nan", "na", "n/a", "unknown", "u", "o", "other"):
        return None
    raise InvalidInputError(f"Unrecognised sex {value!r}; use F or M (or leave it empty if unknown).")


def parse_age(value: object) -> float | None:
    """Age in years as float, or None when empty; rejects non-numbers and implausible ages."""
    if value is None:
        return None
    text = str(value).strip()
    if text in ("", "nan", "NaN", "NA", "n/a"):
        return None
    try:
        age = float(text)
    except ValueError as error:
        raise InvalidInputError(f"Age {value!r} is not a number of years.") from error
    if not 0.0 <= age <= 120.0:
        raise InvalidInputError(f"Age {age} is outside 0-120 years.")
    return age


@dataclass
class StructureNorm:
    """Linear model of one structure's volume.

    The volume is ``c0 + c1 a + c2 a^2 + c3 male + c4 v`` with ``a = (age - 55) / 10`` and
    ``v = (icv_ml - 1500) / 100``: the intracranial volume (all labelled voxels) adjusts for head
    size, so a z-score reflects atrophy rather than a small head.

    Attributes:
        coefficients: model coefficients (unused terms are 0).
        icv_by_sex: mean ICV of each sex (``F``, ``M``, ``all``), used when a record has no ICV.
        sd: robust residual standard deviation (1.4826 x median absolute deviation).
        mean: pooled mean (used when the age is unknown).
        pooled_sd: pooled standard deviation.
        n: number of subjects fitted.
    """

    coefficients: list[float]
    sd: float
    mean: float
    pooled_sd: float
    n: int
    icv_by_sex: dict[str, float] = field(default_factory=dict)

    def expected(self, age: float | None, sex: str | None, icv_ml: float | None = None) -> float:
        """Expected volume at ``age`` for ``sex`` and ``icv_ml`` (pooled mean without age).

        Unknown sex counts as half male; an unknown ICV is the mean ICV of the sex.
        """
        return expected_volume(vars(self), age, sex, icv_ml)


def _design(ages: np.ndarray, males: np.ndarray, icvs: np.ndarray | None, degree: int, use_sex: bool) -> np.ndarray:
    a = (ages - AGE_CENTRE) / AGE_UNIT
    zero = np.zeros_like(a)
    columns = [
        np.ones_like(a),
        a if degree >= 1 else zero,
        a * a if degree >= 2 else zero,
        males if use_sex else zero,
        (icvs - ICV_CENTRE) / ICV_UNIT if icvs is not None else zero,
    ]
    return np.stack(columns, axis=1)


def _fit_one(values: np.ndarray, ages: np.ndarray, males: np.ndarray, icvs: np.ndarray | None) -> StructureNorm:
    n = len(values)
    degree = 2 if n >= 20 else 1
    use_sex = min(males.sum(), n - males.sum()) >= 3
    design = _design(ages, males, icvs if n >= 10 else None, degree, use_sex)
    keep = np.ones(n, bool)
    for _ in range(3):
        coefficients, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
        residual = values - design @ coefficients
        sd = MAD_TO_SD * float(np.median(np.abs(residual[keep] - np.median(residual[keep]))))
        sd = max(sd, 1e-6 * max(1.0, float(np.abs(values).mean())))
        # Refit without the outliers (e.g. markedly enlarged ventricles), which would bend the norm.
        keep = np.abs(residual) <= 2.5 * sd
    icv_by_sex = {}
    if icvs is not None:
        icv_by_sex["all"] = float(icvs.mean())
        for sex, selected in (("M", males > 0.5), ("F", males < 0.5)):
            if selected.any():
                icv_by_sex[sex] = float(icvs[selected].mean())
    return StructureNorm([float(c) for c in coefficients], sd, float(values.mean()), float(values.std()), n, icv_by_sex)


def fit_structure_norm(subjects: Iterable[Mapping[str, object]], structure: str) -> StructureNorm:
    """Fit one structure's norm from records holding ``age``, ``sex``, ``structure`` and optionally ``icv_ml``.

    ``icv_ml`` is used as a covariate when every usable record has it; subjects lacking age or the
    volume are skipped.

    Raises:
        InvalidInputError: if fewer than 5 usable subjects have the structure.
    """
    ages, males, values, icvs = [], [], [], []
    for row in subjects:
        age = parse_age(row.get("age"))
        value = row.get(structure)
        if age is None or value in (None, ""):
            continue
        ages.append(age)
        males.append(float(parse_sex(row.get("sex")) == "M"))
        values.append(float(value))
        icv = row.get("icv_ml")
        icvs.append(float(icv) if icv not in (None, "") else np.nan)
    if len(values) < 5:
        raise InvalidInputError(f"Norms for {structure} need at least 5 subjects with age and volume; got {len(values)}.")
    icv_array = np.asarray(icvs)
    return _fit_one(np.asarray(values), np.asarray(ages), np.asarray(males), None if np.isnan(icv_array).any() else icv_array)


@dataclass
class CohortNorms:
    """Age- and sex-dependent norms for every structure in :data:`measure.STRUCTURES`.

    Attributes:
        structures: structure name -> :class:`StructureNorm`.
        source: free text describing the cohort the norms were fitted on.
    """

    structures: dict[str, StructureNorm] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def fit(cls, subjects: Iterable[Mapping[str, object]], source: str = "") -> "CohortNorms":
        """Fit norms from one record per subject holding ``age``, ``sex`` and ``<structure>_ml`` values.

        ``icv_ml`` is used as a covariate when every usable record has it.

        Args:
            subjects: records (manifest rows or dicts); subjects lacking age or a volume are skipped.
            source: description saved with the norms.

        Raises:
            InvalidInputError: if fewer than 5 usable subjects have a structure.
        """
        rows = list(subjects)
        norms = {structure: fit_structure_norm(rows, structure) for structure in STRUCTURES}
        logger.info("Fitted cohort norms on %d subjects.", len(rows))
        return cls(norms, source)

    def zscore(self, structure: str, value: float, age: float | None, sex: str | None, icv_ml: float | None = None) -> float:
        """How many residual SDs ``value`` lies above the norm for ``age``, ``sex`` and ``icv_ml``.

        Without an age the pooled cohort mean and SD are used.
        """
        if structure not in self.structures:
            raise InvalidInputError(f"No norm for {structure!r}; the norms hold {sorted(self.structures)}.")
        norm = self.structures[structure]
        if age is None:
            return (value - norm.mean) / max(norm.pooled_sd, 1e-9)
        return (value - norm.expected(age, sex, icv_ml)) / norm.sd

    def to_dict(self) -> dict:
        return {
            "format_version": NORMS_FORMAT_VERSION,
            "model": f"volume = c0 + c1*a + c2*a^2 + c3*male + c4*v, a = (age - {AGE_CENTRE:g}) / {AGE_UNIT:g}, "
            f"v = (icv_ml - {ICV_CENTRE:g}) / {ICV_UNIT:g}; sd = robust residual SD",
            "source": self.source,
            "structures": {name: vars(norm) for name, norm in self.structures.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "CohortNorms":
        if data.get("format_version") != NORMS_FORMAT_VERSION:
            raise InvalidInputError(f"Norms format version {data.get('format_version')!r} is not supported (expected {NORMS_FORMAT_VERSION}).")
        try:
            structures = {name: StructureNorm(**values) for name, values in data["structures"].items()}
        except (KeyError, TypeError) as error:
            raise InvalidInputError(f"The norms file is malformed ({error}); regenerate it with training.captions.norms.") from error
        return cls(structures, str(data.get("source", "")))

    def save(self, path: str | Path) -> None:
        """Write the norms as JSON (atomically)."""
        write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "CohortNorms":
        """Read norms written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"Norms file {path} does not exist; generate the cohort or fit norms first.")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"Norms file {path} is not valid JSON: {error}.") from error
        return cls.from_dict(data)
