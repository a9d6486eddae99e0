"""Feather weights from a distance transform in mm, and the composite that leaves everything else untouched."""

from __future__ import annotations

import numpy as np
import pytest

from braingen3d.pipelines.inpaint import blend_region, composite
from braingen3d.pipelines.inpaint.blend import cast_like


def weight_volume(region, shape) -> np.ndarray:
    weights = np.zeros(shape, np.float32)
    weights[region.indices] = region.weights
    return weights


def test_weights_are_one_in_the_mask_and_fall_to_zero_at_the_margin_in_mm():
    mask = np.zeros((21, 21, 21), bool)
    mask[10, 10, 10] = True
    spacing = (1.0, 2.0, 4.0)  # anisotropic: the same margin is a different number of voxels per axis
    weights = weight_volume(blend_region(mask, spacing, margin_mm=4.0), mask.shape)
    assert weights[10, 10, 10] == 1.0
    along_i = weights[10:15, 10, 10]  # 1 mm steps, 0 to 4 mm
    assert np.all(np.diff(along_i) < 0) and along_i[4] == 0.0 and along_i[3] > 0
    assert weights[10, 11, 10] == pytest.approx(weights[12, 10, 10])  # 2 mm away on both axes
    assert weights[10, 10, 11] == 0.0  # 4 mm away: at the margin, untouched
    assert weights[12, 10, 10] == pytest.approx(0.5)  # smoothstep(1 - 2/4)
    assert np.count_nonzero(weights) == np.count_nonzero(weights[6:15, 8:13, 10])


def test_zero_margin_is_a_hard_edge():
    mask = np.zeros((8, 8, 8), bool)
    mask[2:5, 3:6, 1:7] = True
    region = blend_region(mask, (1.0, 1.0, 1.0), margin_mm=0.0)
    assert np.array_equal(weight_volume(region, mask.shape), mask.astype(np.float32))


def test_region_is_complete_when_the_mask_touches_the_volume_border():
    mask = np.zeros((10, 10, 10), bool)
    mask[0, 0, 0:3] = True
    region = blend_region(mask, (1.0, 1.0, 1.0), margin_mm=3.0)
    expected = sum(1 for i in range(10) for j in range(10) for k in range(10)
                   if min(np.sqrt(i * i + j * j + (k - c) ** 2) for c in range(3)) < 3.0)
    assert region.size == expected


def test_composite_keeps_dtype_rounds_and_clips_integers_and_touches_nothing_else():
    original = np.arange(4 * 4 * 4, dtype=np.int16).reshape(4, 4, 4)
    mask = np.zeros(original.shape, bool)
    mask[1, 1, 1] = True
    region = blend_region(mask, (1.0, 1.0, 1.0), margin_mm=1.5)
    generated = np.full(region.size, 1e6)  # beyond int16: clipped
    out = composite(original, region, generated)
    assert out.dtype == np.int16 and out[1, 1, 1] == np.iinfo(np.int16).max
    untouched = weight_volume(region, original.shape) == 0
    assert np.array_equal(out[untouched], original[untouched])
    assert np.array_equal(original, np.arange(64, dtype=np.int16).reshape(4, 4, 4))  # input not modified
    assert cast_like(np.array([2.5, -3.7]), np.uint8).tolist() == [2, 0]
    assert cast_like(np.array([2.5]), np.float32).dtype == np.float32
