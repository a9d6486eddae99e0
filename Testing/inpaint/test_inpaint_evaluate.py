"""The lesion-contrast measure used to judge inpainted lesions."""

from __future__ import annotations

import numpy as np
import pytest

from braingen3d.core.errors import InvalidInputError
from braingen3d.pipelines.inpaint import lesion_contrast, max_change_outside


def test_lesion_contrast_compares_the_lesion_with_nearby_white_matter_only():
    original = np.full((30, 10, 10), 100.0)
    wm = np.ones(original.shape, bool)
    original[25:, :, :] = 300.0  # white matter far from the lesion, outside the shell
    mask = np.zeros(original.shape, bool)
    mask[8:12, 4:6, 4:6] = True
    inpainted = original.copy()
    inpainted[mask] = 150.0
    contrast = lesion_contrast(original, inpainted, mask, wm, spacing=(2.0, 2.0, 2.0), shell_mm=10.0)
    assert contrast.lesion_mean == 150.0 and contrast.surround_wm_mean == 100.0
    assert contrast.ratio == pytest.approx(1.5) and contrast.original_ratio == pytest.approx(1.0)
    assert 0 < contrast.surround_voxels < wm.sum() - mask.sum()


def test_lesion_contrast_refuses_mismatched_or_empty_inputs():
    a = np.zeros((4, 4, 4))
    with pytest.raises(InvalidInputError, match="share one shape"):
        lesion_contrast(a, a, a, np.zeros((4, 4, 5)))
    with pytest.raises(InvalidInputError, match="empty"):
        lesion_contrast(a, a, a, a)


def test_max_change_outside():
    original = np.zeros((3, 3, 3))
    edited = original.copy()
    edited[1, 1, 1] = 5.0
    region = np.zeros(original.shape, bool)
    region[1, 1, 1] = True
    assert max_change_outside(original, edited, region) == 0.0
    assert max_change_outside(original, edited, ~region) == 5.0
