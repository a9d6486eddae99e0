"""Diversity (pairwise MS-SSIM within a modality) and memorisation (SSIM to the nearest training subject).

Diversity: the mean MS-SSIM over pairs of volumes of the same modality, among generated volumes and
among reference volumes. Higher means more alike; generated volumes far more alike than the reference
subjects are to each other mean the model repeats itself.

Memorisation: for each generated volume, the SSIM (inside the training subject's brain) to the most
similar training volume of the same modality; the same for each held-out reference volume. A
generated volume closer to a training subject than the closest held-out subject of its modality is
flagged: no new subject came that close, so the model may have copied that training subject. The most similar training
volumes are short-listed by correlation of 4x-pooled copies, then scored with full SSIM.

Even if every generated volume were a new subject, one of them exceeds the held-out maximum by chance
with probability about n_generated / (n_generated + n_held_out) per modality; the report gives that
chance, and a one-sided Mann-Whitney p-value of "generated volumes are closer to training than held-out
subjects are", beside the flags.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Callable

import numpy as np
from scipy import stats

from .engine_adapter import ms_ssim, ssim
from .masks import brain_mask
from .volumes import Sample

logger = logging.getLogger(__name__)

MAX_PAIRS = 30
SHORTLIST = 3


def mean_pairwise_ms_ssim(samples: list[Sample], seed: int = 0, max_pairs: int = MAX_PAIRS) -> dict:
    """Mean MS-SSIM over (at most ``max_pairs`` random) pairs of each modality, then over modalities."""
    per_modality = {}
    rng = np.random.default_rng(seed)
    for modality in sorted({s.modality for s in samples}):
        group = [s for s in samples if s.modality == modality]
        pairs = list(itertools.combinations(range(len(group)), 2))
        if not pairs:
            continue
        if len(pairs) > max_pairs:
            pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), max_pairs, replace=False))]
        values = [ms_ssim(group[i].array, group[j].array) for i, j in pairs]
        per_modality[modality] = {"mean": float(np.mean(values)), "pairs": len(values), "n": len(group)}
    overall = float(np.mean([v["mean"] for v in per_modality.values()])) if per_modality else None
    return {"mean": overall, "per_modality": per_modality, "n": len(samples)}


def _thumbnail(array: np.ndarray, factor: int = 4) -> np.ndarray:
    shape = [s // factor * factor for s in array.shape]
    cropped = array[: shape[0], : shape[1], : shape[2]]
    pooled = cropped.reshape(shape[0] // factor, factor, shape[1] // factor, factor, shape[2] // factor, factor).mean((1, 3, 5))
    flat = pooled.ravel().astype(np.float64)
    return (flat - flat.mean()) / (flat.std() + 1e-8)


def nearest_training(samples: list[Sample], training: list[Sample]) -> list[dict]:
    """For each sample: the most similar training volume of its modality and the SSIM to it."""
    thumbnails = np.stack([_thumbnail(t.array) for t in training])
    masks: dict[int, np.ndarray] = {}
    results = []
    for sample in samples:
        candidates = [i for i, t in enumerate(training) if t.modality == sample.modality]
        correlation = thumbnails[candidates] @ _thumbnail(sample.array) / thumbnails.shape[1]
        shortlist = [candidates[i] for i in np.argsort(-correlation)[:SHORTLIST]]
        scored = []
        for index in shortlist:
            if index not in masks:
                masks[index] = brain_mask(training[index].array)
            scored.append((ssim(training[index].array, sample.array, masks[index]), index))
        best, index = max(scored)
        results.append({"name": sample.name, "modality": sample.modality, "nearest_training": training[index].name,
                        "nearest_training_subject": training[index].subject, "ssim": float(best)})
    return results


def memorisation(generated: list[Sample], held_out: list[Sample], load_training: Callable[[str], list[Sample]]) -> dict:
    """Nearest-training SSIM of generated and held-out volumes, modality by modality.

    Args:
        generated: generated volumes.
        held_out: reference (held-out) volumes.
        load_training: returns the training volumes of one modality (loaded one modality at a time to bound memory).
    """
    start = time.perf_counter()
    generated_rows, held_out_rows, training_counts = [], [], {}
    for modality in sorted({s.modality for s in generated} | {s.modality for s in held_out}):
        training = load_training(modality)
        training_counts[modality] = len(training)
        if not training:
            logger.warning("No training volume of modality %s; its memorisation is not measured.", modality)
            continue
        generated_rows += nearest_training([s for s in generated if s.modality == modality], training)
        held_out_rows += nearest_training([s for s in held_out if s.modality == modality], training)
        logger.info("Memorisation: %s done (%d training volumes, %.0f s so far).", modality, len(training),
                    time.perf_counter() - start)
    if not generated_rows or not held_out_rows:
        return {"measured": False, "reason": "no training volumes of the evaluated modalities", "training": training_counts}
    thresholds = {}
    for row in held_out_rows:
        thresholds[row["modality"]] = max(thresholds.get(row["modality"], -1.0), row["ssim"])
    flagged = [row for row in generated_rows if row["ssim"] > thresholds.get(row["modality"], 1.0)]
    # If generated volumes were new subjects like the held-out ones, the largest of all of a modality's
    # nearest-training SSIMs would be a generated one with probability n_generated / (n_generated + n_held_out).
    chance = 1.0
    for modality in thresholds:
        n_g = sum(row["modality"] == modality for row in generated_rows)
        n_h = sum(row["modality"] == modality for row in held_out_rows)
        chance *= 1.0 - n_g / (n_g + n_h)
    closer = stats.mannwhitneyu([row["ssim"] for row in generated_rows], [row["ssim"] for row in held_out_rows],
                                alternative="greater")
    return {
        "measured": True,
        "generated_max_ssim": max(row["ssim"] for row in generated_rows),
        "generated_mean_ssim": float(np.mean([row["ssim"] for row in generated_rows])),
        "held_out_max_ssim": max(thresholds.values()),
        "held_out_max_ssim_per_modality": thresholds,
        "held_out_mean_ssim": float(np.mean([row["ssim"] for row in held_out_rows])),
        "flagged": flagged, "n_flagged": len(flagged),
        "chance_of_a_flag_if_new_subjects": 1.0 - chance,
        "closer_than_held_out_p": float(closer.pvalue),
        "n_generated": len(generated_rows), "n_held_out": len(held_out_rows), "training": training_counts,
        "generated": generated_rows, "held_out": held_out_rows,
    }
