"""Reading the cohort's manifest and volumes for evaluation."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np


@dataclass
class CohortImage:
    subject_id: str
    modality: str
    split: str
    image: np.ndarray
    brain: np.ndarray


def read_manifest(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_images(manifest: Path, split: str, modalities: tuple[str, ...] | None = None,
                limit_per_modality: int | None = None) -> list[CohortImage]:
    """Images of ``split`` with their brain masks (tissue label > 0)."""
    folder = Path(manifest).parent
    counts: dict[str, int] = {}
    images = []
    for row in read_manifest(manifest):
        if row["split"] != split or (modalities and row["modality"] not in modalities):
            continue
        if limit_per_modality is not None and counts.get(row["modality"], 0) >= limit_per_modality:
            continue
        counts[row["modality"]] = counts.get(row["modality"], 0) + 1
        image = np.asarray(nib.load(folder / row["image"]).dataobj, dtype=np.float32)
        labels = np.asarray(nib.load(folder / row["tissue_map"]).dataobj)
        images.append(CohortImage(row["subject_id"], row["modality"], split, image, labels > 0))
    return images
