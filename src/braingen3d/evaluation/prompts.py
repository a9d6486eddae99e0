"""What to generate: one prompt per generated volume, built from a reference subject's modality, age and sex."""

from __future__ import annotations

from dataclasses import dataclass

from .engine_adapter import MODALITIES, MODALITY_WORDS, SEX_WORDS, InvalidInputError
from .sources import VolumeSource


@dataclass(frozen=True)
class GenerationRequest:
    """One volume to generate.

    Args:
        name: file-name stem, ``gen007_T2``.
        modality: the contrast asked for.
        subject: the reference subject whose attributes the prompt carries.
        prompt: the prompt.
        seed: the seed.
    """

    name: str
    modality: str
    subject: str
    prompt: str
    seed: int


def prompt_for(modality: str, age: float | None, sex: str | None) -> str:
    """``T2-weighted MRI of a 72-year-old woman`` in the training captions' wording (parts left out when unknown)."""
    text = f"{MODALITY_WORDS[modality]} MRI"
    person = SEX_WORDS.get(sex or "", "adult")
    if age is not None:
        return f"{text} of a {int(round(age))}-year-old {person}"
    return f"{text} of an adult" if person == "adult" else f"{text} of a {person}"


def plan_generation(reference: list[VolumeSource], count: int, seed: int) -> list[GenerationRequest]:
    """``count`` requests spread evenly over the reference's modalities, cycling through its subjects.

    Volume ``k`` uses seed ``seed + k``.

    Raises:
        InvalidInputError: ``count`` is too small to give every reference modality a volume.
    """
    modalities = [m for m in MODALITIES if any(source.modality == m for source in reference)]
    if count < len(modalities):
        raise InvalidInputError(f"--n {count} cannot cover the reference's {len(modalities)} modalities "
                                f"({', '.join(modalities)}); ask for at least {max(5, len(modalities))}.")
    by_modality = {m: sorted((s for s in reference if s.modality == m), key=lambda s: (s.subject, str(s.path)))
                   for m in modalities}
    requests = []
    for k in range(count):
        modality = modalities[k % len(modalities)]
        subjects = by_modality[modality]
        source = subjects[(k // len(modalities)) % len(subjects)]
        requests.append(GenerationRequest(f"gen{k:03d}_{modality}", modality, source.subject,
                                          prompt_for(modality, source.age, source.sex), seed + k))
    return requests
