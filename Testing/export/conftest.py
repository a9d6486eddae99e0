"""Shared fixtures for the export tests (readers are in export_readers.py)."""

from __future__ import annotations

import numpy as np
import pytest

PROVENANCE = {
    "synthetic": True,
    "generator": "BrainGen3D",
    "engine_version": "0.1.0",
    "task": "generate",
    "prompt": "T2 brain MRI of a 71 year old woman with white matter lesions — ünïcode",
    "negative_prompt": "",
    "seed": 1234,
    "steps": 20,
    "guidance_scale": 5.0,
    "sampler": "dpm++",
    "bundle_id": "braingen3d-test-bundle",
    "bundle_version": "0.0.1",
    "device": "cpu",
    "created": "2026-01-02T03:04:05Z",
    "index": 0,
}


def rotated_affine(angle_deg: float = 10.0, spacing=(1.5, 2.0, 2.5), flip_x: bool = True) -> np.ndarray:
    """An oblique voxel-to-RAS affine (rotation about S, anisotropic voxels, optional x flip)."""
    angle = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    axes = rotation @ np.diag(spacing)
    if flip_x:
        axes[:, 0] *= -1
    affine = np.eye(4)
    affine[:3, :3] = axes
    affine[:3, 3] = (12.5, -30.25, 7.0)
    return affine


@pytest.fixture
def provenance() -> dict:
    return dict(PROVENANCE)


@pytest.fixture
def oblique_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(volume, affine, label): a 12x14x10 float volume, an oblique affine and a 2-value mask."""
    shape = (12, 14, 10)
    rng = np.random.default_rng(7)
    i, j, k = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    volume = (0.3 + 0.05 * i + 0.02 * j - 0.01 * k + 0.05 * rng.random(shape)).astype(np.float32)
    label = np.zeros(shape, dtype=np.uint8)
    label[2:5, 3:7, 2:6] = 1
    label[8, 10, 7] = 1
    return volume, rotated_affine(), label
