"""Small synthetic brain phantoms for the evaluation tests: fast, varied, with four contrasts.

Each subject is an ellipsoidal head with a folded grey-matter ribbon, white matter and two
ventricles; size, shape, fold phase and ventricle size vary by subject, and each contrast renders
the tissues with its own intensities plus a little noise. Not anatomy, but enough structure for
every measure to have something to see.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from braingen3d.core.geometry import mni_grid

GRID = mni_grid((32, 40, 32), 2.0)
MODALITIES = ("T1", "T2", "FLAIR", "PD")
# Background, CSF, grey matter, white matter.
CONTRASTS = {"T1": (0.0, 0.2, 0.6, 0.85), "T2": (0.0, 0.95, 0.6, 0.45), "FLAIR": (0.0, 0.12, 0.75, 0.6),
             "PD": (0.0, 0.9, 0.75, 0.6)}


def tissue_labels(rng: np.random.Generator, shape=GRID.shape) -> np.ndarray:
    """0 background, 1 CSF (ventricles and sulci), 2 grey matter, 3 white matter."""
    grid = np.stack(np.meshgrid(*[np.arange(s, dtype=float) for s in shape], indexing="ij"))
    centre = np.asarray(shape, float) / 2 + rng.uniform(-0.7, 0.7, 3)
    radii = np.asarray(shape, float) * 0.36 * rng.uniform(0.92, 1.06, 3)
    offset = (grid - centre[:, None, None, None]) / radii[:, None, None, None]
    r = np.sqrt((offset**2).sum(0))
    theta = np.arctan2(offset[1], offset[0])
    phi = np.arctan2(offset[2], np.hypot(offset[0], offset[1]))
    folds = 0.07 * np.sin(rng.integers(5, 8) * theta + rng.uniform(0, 6.3)) * np.cos(rng.integers(3, 6) * phi + rng.uniform(0, 6.3))
    labels = np.zeros(shape, np.uint8)
    labels[r < 1.0] = 2
    labels[r < 0.72 + folds] = 3
    labels[(r < 1.0) & (r > 0.93 + folds)] = 1  # sulcal CSF
    ventricle = rng.uniform(0.10, 0.2)
    for side in (-1, 1):
        v = (offset - np.array([side * 0.18, 0.05, 0.05])[:, None, None, None]) / np.array([0.7, 2.2, 1.2])[:, None, None, None]
        labels[np.sqrt((v**2).sum(0)) < ventricle] = 1
    return labels


def render(labels: np.ndarray, modality: str, rng: np.random.Generator, noise: float = 0.01) -> np.ndarray:
    levels = np.asarray(CONTRASTS[modality], np.float32)
    image = levels[labels]
    image = ndimage.gaussian_filter(image, 0.6)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, labels.shape), 2.0)
    image = image * (1 + 0.04 * texture / (texture.std() + 1e-8))
    image[labels > 0] += rng.normal(0, noise, int((labels > 0).sum()))
    image[labels == 0] = 0.0
    return np.clip(image, 0, 1).astype(np.float32)


def cohort(count: int, seed: int, modalities=MODALITIES, prefix: str = "sub") -> list[tuple[str, str, np.ndarray]]:
    """``count`` subjects × ``modalities``: (subject, modality, image) in memory."""
    volumes = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        labels = tissue_labels(rng)
        for modality in modalities:
            volumes.append((f"{prefix}{seed:02d}{index:03d}", modality, render(labels, modality, rng)))
    return volumes


def write_volumes(folder: Path, volumes, affine: np.ndarray = GRID.affine, sidecars: dict | None = None) -> Path:
    """Write ``<subject>_<MODALITY>.nii.gz`` files (and optional JSON sidecars keyed by subject)."""
    folder.mkdir(parents=True, exist_ok=True)
    for subject, modality, image in volumes:
        nib.save(nib.Nifti1Image(image, affine), str(folder / f"{subject}_{modality}.nii.gz"))
        if sidecars and subject in sidecars:
            (folder / f"{subject}_{modality}.json").write_text(json.dumps(sidecars[subject]))
    return folder


def write_manifest(path: Path, rows: list[dict]) -> Path:
    columns = ["subject_id", "image", "modality", "age", "sex", "tissue_map", "lesion_mask", "dataset", "caption", "split"]
    lines = [",".join(columns)] + [",".join(str(row.get(c, "")) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def samples(volumes, generated: bool = False, transform=None):
    """``Sample`` objects of in-memory volumes (``transform(image, rng)`` applied to each, e.g. noise)."""
    from braingen3d.evaluation.volumes import Sample

    rng = np.random.default_rng(99)
    out = []
    for subject, modality, image in volumes:
        array = transform(image, rng) if transform else image
        out.append(Sample(f"{subject}_{modality}", subject, modality, np.clip(array, 0, 1).astype(np.float32),
                          info={"generated": True} if generated else {}))
    return out


def with_masks(reference, others):
    """Assign brain masks as the runner does; return the head region."""
    from braingen3d.evaluation.volumes import assign_brain_masks

    return assign_brain_masks(reference, others)


def add_noise(sigma: float):
    def transform(image, rng):
        return image + rng.normal(0, sigma, image.shape).astype(np.float32) * (image > 0)
    return transform


def blur(sigma: float):
    def transform(image, rng):
        return ndimage.gaussian_filter(image, sigma)
    return transform


def shift(offset: float, scale: float = 1.0):
    def transform(image, rng):
        return np.where(image > 0, image * scale + offset, 0.0)
    return transform
