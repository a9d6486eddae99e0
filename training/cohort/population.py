"""Subject attributes of the template-derived population and how they depend on age and sex."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

AGE_RANGE = (20.0, 90.0)


@dataclass
class SubjectAttributes:
    """The generating parameters of one subject (its "true" attributes before measurement).

    Attributes:
        subject_id: identifier, e.g. ``syn0007``.
        age: years.
        sex: ``"F"`` or ``"M"``.
        split: ``"train"`` or ``"test"`` (held-out).
        scale: global linear scale of the brain relative to the template.
        rotation_deg: small head rotation about x, y, z.
        translation_mm: small head shift.
        warp_sd_mm: standard deviation of the random non-linear warp's control points.
        ventricle_ratio: requested ventricle volume relative to the (young-adult) template,
            before the global scale.
        ventricles_marked: True when the subject was drawn with ventricles markedly enlarged
            beyond the age norm.
        cortical_thinning: amount of GM turned into CSF at the outer cortical boundary (0-1).
        lesion_count: number of white-matter lesions requested.
        contrast_jitter: per-modality, per-tissue multiplicative contrast jitter.
    """

    subject_id: str
    age: float
    sex: str
    split: str
    scale: float
    rotation_deg: list[float]
    translation_mm: list[float]
    warp_sd_mm: float
    ventricle_ratio: float
    ventricles_marked: bool
    cortical_thinning: float
    lesion_count: int
    contrast_jitter: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def age_fraction(age: float) -> float:
    """0 at 20 years, 1 at 90 years."""
    return float(np.clip((age - AGE_RANGE[0]) / (AGE_RANGE[1] - AGE_RANGE[0]), 0.0, 1.0))


def expected_ventricle_ratio(age: float) -> float:
    """Age norm of the ventricle volume relative to a 20-year-old: 1 at 20, about 2.6 at 90."""
    return 1.0 + 1.6 * age_fraction(age) ** 1.5


def expected_lesion_rate(age: float) -> float:
    """Mean number of white-matter lesions at ``age`` (Poisson rate): 0.2 at 20, 5.7 at 90."""
    return 0.2 + 5.5 * age_fraction(age) ** 2


def expected_cortical_thinning(age: float) -> float:
    """Mean cortical-thinning amount at ``age``: 0 at 20, 0.6 at 90 (about 15% of GM)."""
    return 0.6 * age_fraction(age) ** 1.2


def sample_attributes(
    rng: np.random.Generator,
    subject_id: str,
    split: str,
    modalities: list[str],
    marked_ventricle_probability: float = 0.12,
    max_lesions: int = 12,
) -> SubjectAttributes:
    """Draw one subject: age uniform 20-90, either sex, age-driven atrophy and lesions.

    Males are about 6% larger linearly on average (SD 3% within each sex). Ventricle volume grows
    monotonically with age, times a log-normal individual factor (SD about 18%); a fraction of
    subjects get a further 1.6-2.2x enlargement ("markedly enlarged" beyond the age norm).

    Args:
        rng: the subject's own random generator.
        subject_id: identifier.
        split: ``"train"`` or ``"test"``.
        modalities: modalities to draw contrast jitter for.
        marked_ventricle_probability: fraction of subjects with markedly enlarged ventricles.
        max_lesions: cap on the lesion count.
    """
    age = round(float(rng.uniform(*AGE_RANGE)), 1)
    sex = "M" if rng.random() < 0.5 else "F"
    mean_scale = 1.03 if sex == "M" else 0.97
    scale = float(np.clip(rng.normal(mean_scale, 0.03), 0.9, 1.09))
    marked = bool(rng.random() < marked_ventricle_probability)
    ratio = expected_ventricle_ratio(age) * float(np.exp(rng.normal(0.0, 0.18)))
    if marked:
        ratio *= float(rng.uniform(1.6, 2.2))
    thinning = float(np.clip(expected_cortical_thinning(age) * np.exp(rng.normal(0.0, 0.35)), 0.0, 0.9))
    lesions = int(min(rng.poisson(expected_lesion_rate(age)), max_lesions))
    jitter = {
        modality: {tissue: float(np.clip(rng.normal(1.0, 0.015), 0.97, 1.03)) for tissue in ("csf", "gm", "wm", "lesion")}
        for modality in modalities
    }
    return SubjectAttributes(
        subject_id=subject_id,
        age=age,
        sex=sex,
        split=split,
        scale=scale,
        rotation_deg=[float(v) for v in rng.normal(0.0, 2.0, 3)],
        translation_mm=[float(v) for v in rng.normal(0.0, 1.5, 3)],
        warp_sd_mm=float(rng.uniform(1.5, 3.0)),
        ventricle_ratio=ratio,
        ventricles_marked=marked,
        cortical_thinning=thinning,
        lesion_count=lesions,
        contrast_jitter=jitter,
    )
