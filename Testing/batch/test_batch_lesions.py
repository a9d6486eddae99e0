"""Lesion placement: ellipsoids of the planned size in white matter, robust on tiny grids and random images."""

from __future__ import annotations

import numpy as np
import pytest

from braingen3d.batch import place_lesions
from braingen3d.batch.white_matter import brain_and_white_matter
from braingen3d.core.intensity import foreground_mask
from braingen3d.pipelines.inpaint.inputs import check_mask

# Phantom tissue intensities (dark to bright order differs per contrast, as in real MRI).
CONTRASTS = {"T1": {"csf": 0.2, "gm": 0.5, "wm": 0.8}, "T2": {"csf": 0.9, "gm": 0.6, "wm": 0.35},
             "FLAIR": {"csf": 0.1, "gm": 0.7, "wm": 0.45}, "PD": {"csf": 0.9, "gm": 0.7, "wm": 0.5}}


def phantom(modality: str, spacing: float = 2.0, shape=(48, 48, 48)):
    """A spherical 'brain' (WM core, GM shell, sulcal CSF shell, ventricles) and its true WM mask."""
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = -spacing * (np.asarray(shape) - 1) / 2
    centre = (np.asarray(shape) - 1) / 2
    i, j, k = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    radius = np.sqrt((i - centre[0]) ** 2 + (j - centre[1]) ** 2 + (k - centre[2]) ** 2) * spacing
    tissue = CONTRASTS[modality]
    image = np.zeros(shape, np.float32)
    image[radius < 46] = tissue["csf"]
    image[radius < 42] = tissue["gm"]
    white = radius < 32
    image[white] = tissue["wm"]
    ventricles = (np.abs(i - centre[0]) * spacing < 8) & (np.abs(j - centre[1]) * spacing < 16) & (np.abs(k - centre[2]) * spacing < 8)
    image[ventricles] = tissue["csf"]
    rng = np.random.default_rng(0)
    image[radius < 46] += rng.normal(0, 0.02, size=int(np.count_nonzero(radius < 46))).astype(np.float32)
    return image, affine, white & ~ventricles


@pytest.mark.parametrize("modality", ["T1", "T2", "FLAIR", "PD"])
def test_white_matter_estimate_follows_the_contrast(modality):
    image, _, truth = phantom(modality)
    brain, white_matter = brain_and_white_matter(image, modality)
    assert brain[truth].all()
    dice = 2 * np.count_nonzero(white_matter & truth) / (np.count_nonzero(white_matter) + np.count_nonzero(truth))
    assert dice > 0.85, f"{modality}: WM estimate dice {dice:.2f}"


def test_lesions_have_the_planned_size_and_lie_in_white_matter():
    image, affine, truth = phantom("FLAIR", spacing=1.0, shape=(72, 72, 72))
    diameters = (6.0, 10.0, 14.0)
    mask, placed = place_lesions(image, affine, "FLAIR", diameters, np.random.default_rng(3))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert [p.diameter_mm for p in placed] == list(diameters)
    assert all(p.region == "white_matter" for p in placed)
    for lesion in placed:
        sphere_voxels = np.pi / 6 * lesion.diameter_mm ** 3  # 1 mm voxels
        assert 0.6 * sphere_voxels < lesion.voxels < 1.3 * sphere_voxels, (lesion, sphere_voxels)
        assert np.isclose(np.prod(lesion.semi_axes_mm), (lesion.diameter_mm / 2) ** 3)
    assert np.count_nonzero(mask.astype(bool) & ~truth) < 0.05 * np.count_nonzero(mask), "lesions stay in white matter"
    check_mask(mask.astype(bool), foreground_mask(image))  # inpainting accepts it
    again, _ = place_lesions(image, affine, "FLAIR", diameters, np.random.default_rng(3))
    assert np.array_equal(mask, again), "placement is a function of the case's generator"


def test_random_tiny_image_falls_back_inside_the_brain():
    # A 16^3 grid at 10 mm with noise, like the tiny test bundle's output: the WM estimate is arbitrary.
    rng = np.random.default_rng(1)
    image = np.zeros((16, 16, 16), np.float32)
    image[4:12, 3:13, 4:11] = rng.random((8, 10, 7)).astype(np.float32)
    affine = np.diag([10.0, 10.0, 10.0, 1.0])
    brain = foreground_mask(image)
    for seed in range(20):
        mask, placed = place_lesions(image, affine, "T2", (5.0, 15.0, 9.0), np.random.default_rng(seed))
        assert len(placed) == 3 and all(p.voxels >= 1 for p in placed), "every lesion gets at least its centre voxel"
        assert not np.any(mask.astype(bool) & ~brain)
        check_mask(mask.astype(bool), brain)


def test_a_brain_too_small_for_the_lesions_gets_fewer_not_a_failure():
    image = np.zeros((16, 16, 16), np.float32)
    image[7:9, 7:9, 7:9] = 1.0  # 8 voxels of "brain": room for 2 one-voxel lesions within 25 %
    mask, placed = place_lesions(image, np.diag([10.0, 10.0, 10.0, 1.0]), "FLAIR", (5.0, 5.0, 5.0, 5.0),
                                 np.random.default_rng(0))
    assert len(placed) == 2 and np.count_nonzero(mask) == 2
    empty, none = place_lesions(np.zeros((8, 8, 8), np.float32), np.eye(4), "FLAIR", (5.0,), np.random.default_rng(0))
    assert none == [] and not empty.any()
