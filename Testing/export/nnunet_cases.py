"""Small synthetic nnU-Net cases shared by the nnU-Net writer tests."""

from __future__ import annotations

import numpy as np

from braingen3d.core.geometry import mni_grid
from braingen3d.export import NnunetDatasetWriter

GRID = mni_grid((16, 16, 16), 4.0)


def make_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 16^3 float image and a lesion mask (the lesion sits where the image is bright)."""
    rng = np.random.default_rng(seed)
    volume = rng.random(GRID.shape).astype(np.float32)
    centre = rng.integers(4, 12, size=3)
    label = np.zeros(GRID.shape, dtype=np.uint8)
    label[tuple(slice(c - 2, c + 2) for c in centre)] = 1
    volume[label == 1] += 1.0
    return volume, label


def write_cases(writer: NnunetDatasetWriter, seeds, provenance) -> list[bool]:
    results = []
    for seed in seeds:
        volume, label = make_case(seed)
        results.append(writer.write_case(f"synth_{seed:03d}", volume, GRID.affine, label, dict(provenance, seed=seed)))
    return results
