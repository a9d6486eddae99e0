"""Checks of the inputs that run before any heavy work, each failing with the problem and the fix."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from .engine_adapter import InvalidInputError, OutputExistsError
from .options import MEASURES, MIN_VOLUMES_PER_SIDE, EvaluationOptions
from .sources import VolumeSource


def check_options(options: EvaluationOptions) -> None:
    """Numbers in range, known measures and feature sets, a writable report location."""
    unknown = sorted(set(options.skip) - set(MEASURES))
    if unknown:
        raise InvalidInputError(f"Unknown measure(s) to skip: {', '.join(unknown)}; choose from {', '.join(MEASURES)}.")
    if options.generated is None and options.count < MIN_VOLUMES_PER_SIDE:
        raise InvalidInputError(f"--n {options.count}: at least {MIN_VOLUMES_PER_SIDE} generated volumes are needed "
                                "for the figures to mean anything; ask for 40 or more.")
    if options.frd_features not in ("full", "original"):
        raise InvalidInputError(f"--frd-features must be 'full' or 'original'; got {options.frd_features!r}.")
    if options.cnn.epochs < 1 or options.folds < 2 or options.cnn.folds < 2:
        raise InvalidInputError("--cnn-epochs must be at least 1 and --folds at least 2.")
    if options.steps is not None and not 1 <= options.steps <= 1000:
        raise InvalidInputError(f"--steps must be from 1 to 1000; got {options.steps}.")
    if options.guidance is not None and not options.guidance >= 0:
        raise InvalidInputError(f"--guidance must be >= 0; got {options.guidance}.")
    output = Path(options.output)
    if output.exists() and not output.is_dir():
        raise InvalidInputError(f"The report location {output} is a file; give a folder name.")
    if output.exists() and not options.overwrite:
        raise OutputExistsError(f"The report folder {output} already exists. Pass --overwrite to replace it, "
                                "or choose another -o.")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInputError(f"The folder {parent} that should hold the report does not exist. Create it first.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInputError(f"The folder {parent} is not writable. Choose a report location you can write to.")


def modality_counts(sources: list[VolumeSource]) -> dict[str, int]:
    return dict(sorted(Counter(source.modality for source in sources).items()))


def check_side(sources: list[VolumeSource], what: str) -> None:
    """At least ``MIN_VOLUMES_PER_SIDE`` volumes."""
    if len(sources) < MIN_VOLUMES_PER_SIDE:
        raise InvalidInputError(
            f"The {what} has {len(sources)} volume(s); at least {MIN_VOLUMES_PER_SIDE} are needed on each side, "
            "or the figures would mean nothing. Add volumes (40 or more per side give usable confidence intervals).")


def check_reference_halves(reference: list[VolumeSource]) -> None:
    """Every modality needs two reference subjects, one for each half of the baseline."""
    subjects: dict[str, set[str]] = {}
    for source in reference:
        subjects.setdefault(source.modality, set()).add(source.subject)
    thin = sorted(m for m, names in subjects.items() if len(names) < 2)
    if thin:
        raise InvalidInputError(f"The reference has fewer than 2 subjects of {', '.join(thin)}; the reference-vs-reference "
                                "baseline needs at least one subject of each modality in each half. Add subjects or "
                                "remove that modality.")


def check_same_modalities(generated: list[VolumeSource], reference: list[VolumeSource]) -> None:
    """Every modality on both sides."""
    generated_only = sorted(set(modality_counts(generated)) - set(modality_counts(reference)))
    reference_only = sorted(set(modality_counts(reference)) - set(modality_counts(generated)))
    if generated_only or reference_only:
        parts = []
        if generated_only:
            parts.append(f"{', '.join(generated_only)} only among the generated volumes")
        if reference_only:
            parts.append(f"{', '.join(reference_only)} only in the reference")
        raise InvalidInputError(f"Modalities differ between the sides: {'; '.join(parts)}. Each modality must be present "
                                "on both sides; add the missing volumes or remove that modality.")


def check_no_overlap(reference: list[VolumeSource], training: list[VolumeSource]) -> None:
    """Held-out reference volumes must not also be training volumes."""
    shared = {s.path.resolve() for s in reference} & {s.path.resolve() for s in training}
    if shared:
        example = sorted(shared)[0]
        raise InvalidInputError(f"{len(shared)} reference volume(s) are also training volumes (e.g. {example}); "
                                "memorisation compares against held-out subjects. Point --reference at held-out "
                                "subjects (e.g. --reference-split test) and --training at the training split.")
