"""The reference-versus-reference baseline: two halves of the reference, and sample sizes that match.

Every distance is computed twice with the same sizes: generated against reference half A, and
reference half B against half A. Halves are split by subject, so one subject's contrasts stay together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .volumes import Sample


@dataclass
class Comparison:
    """The three groups a distance is measured between.

    Args:
        generated: generated volumes, at most as many per modality as ``half_b`` has.
        half_a: reference half A (the reference side of both distances).
        half_b: reference half B, at most as many per modality as ``generated`` has.
    """

    generated: list[Sample]
    half_a: list[Sample]
    half_b: list[Sample]

    def modality(self, modality: str) -> "Comparison":
        return Comparison(*([s for s in group if s.modality == modality] for group in (self.generated, self.half_a, self.half_b)))

    def sizes(self) -> dict[str, int]:
        return {"generated": len(self.generated), "reference_a": len(self.half_a), "reference_b": len(self.half_b)}


def split_halves(reference: list[Sample], seed: int) -> tuple[list[Sample], list[Sample]]:
    """Reference halves A and B by subject, balanced within each set of modalities a subject has."""
    modalities: dict[str, set[str]] = {}
    for sample in reference:
        modalities.setdefault(sample.subject, set()).add(sample.modality)
    groups: dict[tuple[str, ...], list[str]] = {}
    for subject, present in sorted(modalities.items()):
        groups.setdefault(tuple(sorted(present)), []).append(subject)
    rng = np.random.default_rng([seed, 1])
    in_a: set[str] = set()
    size_a = size_b = 0
    for key in sorted(groups):
        subjects = groups[key]
        first_to_a = size_a <= size_b
        for position, index in enumerate(rng.permutation(len(subjects))):
            if (position % 2 == 0) == first_to_a:
                in_a.add(subjects[index])
                size_a += 1
            else:
                size_b += 1
    return [s for s in reference if s.subject in in_a], [s for s in reference if s.subject not in in_a]


def matched_comparison(generated: list[Sample], reference: list[Sample], seed: int) -> Comparison:
    """Halves of ``reference``, and per modality the same number of generated and half-B volumes (random subsets)."""
    half_a, half_b = split_halves(reference, seed)
    rng = np.random.default_rng([seed, 2])
    kept_generated, kept_b = [], []
    for modality in sorted({s.modality for s in generated} | {s.modality for s in half_b}):
        gen_m = [s for s in generated if s.modality == modality]
        b_m = [s for s in half_b if s.modality == modality]
        size = min(len(gen_m), len(b_m))
        kept_generated += [gen_m[i] for i in sorted(rng.permutation(len(gen_m))[:size])]
        kept_b += [b_m[i] for i in sorted(rng.permutation(len(b_m))[:size])]
    return Comparison(kept_generated, half_a, kept_b)
