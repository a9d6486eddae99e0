"""End to end with the tiny random model: outside the mask plus margin, voxels are bit-identical."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from Testing.inpaint.inpaint_phantoms import make_case

MARGIN_MM = 8.0


def distance_to_mask_mm(case) -> np.ndarray:
    """Distance from every voxel centre to the nearest mask voxel centre, in world mm (brute force, no EDT)."""
    world = case.world.reshape(-1, 3)
    distance, _ = cKDTree(world[case.mask.reshape(-1).astype(bool)]).query(world)
    return distance.reshape(case.mask.shape)


@pytest.mark.parametrize("orientation, dtype", [("ras", np.int16), ("lps", np.float32), ("oblique", np.int16)])
def test_voxels_beyond_the_margin_are_bit_identical_and_the_mask_is_regenerated(inpainter, orientation, dtype):
    case = make_case(orientation, dtype=dtype)
    result = inpainter(case.volume, case.affine, case.mask, "a 15 mm white-matter hyperintensity",
                       num_inference_steps=3, seed=4, blend_margin_mm=MARGIN_MM)
    assert result.array.dtype == case.volume.dtype and result.array.shape == case.volume.shape
    assert np.array_equal(result.affine, case.affine)
    distance = distance_to_mask_mm(case)
    outside = distance >= MARGIN_MM
    assert np.array_equal(result.array[outside], case.volume[outside])  # max abs difference exactly 0
    changed = result.array != case.volume
    assert distance[changed].max() < MARGIN_MM
    lesion = case.mask.astype(bool)
    assert np.count_nonzero(changed & lesion) >= 0.9 * np.count_nonzero(lesion)
    band = (distance > 0) & (distance < MARGIN_MM)
    assert np.any(changed & band)  # the feathered band blends
    assert np.array_equal(result.lesion_mask, case.mask)
    assert result.provenance["changed_voxels"] == int(np.count_nonzero(changed))
