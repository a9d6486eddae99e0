"""Quality metrics behave as metrics: perfect on identity, monotone in degradation, mask-restricted."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from braingen3d import metrics
from braingen3d.core.errors import InvalidInputError


@pytest.fixture(scope="module")
def smooth_volume() -> np.ndarray:
    rng = np.random.default_rng(0)
    volume = ndimage.gaussian_filter(rng.random((40, 48, 40)), 2)
    return ((volume - volume.min()) / np.ptp(volume)).astype(np.float32)


def test_identity_is_perfect(smooth_volume):
    assert metrics.psnr(smooth_volume, smooth_volume) == float("inf")
    assert metrics.ssim(smooth_volume, smooth_volume) == pytest.approx(1.0)
    assert metrics.ms_ssim(smooth_volume, smooth_volume) == pytest.approx(1.0, abs=1e-5)


def test_more_noise_scores_worse(smooth_volume):
    rng = np.random.default_rng(1)
    noisy = [np.clip(smooth_volume + rng.normal(0, s, smooth_volume.shape), 0, 1).astype(np.float32) for s in (0.01, 0.05)]
    assert metrics.psnr(smooth_volume, noisy[0]) > metrics.psnr(smooth_volume, noisy[1])
    assert metrics.ssim(smooth_volume, noisy[0]) > metrics.ssim(smooth_volume, noisy[1])
    assert metrics.psnr(smooth_volume, noisy[0]) == pytest.approx(40, abs=1.0)  # sigma 0.01 → 40 dB


def test_mask_limits_the_region(smooth_volume):
    damaged = smooth_volume.copy()
    damaged[:, :, :20] = 0
    inside = np.zeros(smooth_volume.shape, bool)
    inside[5:35, 5:43, 25:35] = True
    assert metrics.psnr(smooth_volume, damaged, inside) == float("inf")
    assert metrics.ssim(smooth_volume, damaged, inside) == pytest.approx(1.0)
    assert metrics.ssim(smooth_volume, damaged) < 0.9


def test_histogram_distance_measures_a_shift(smooth_volume):
    mask = np.ones(smooth_volume.shape, bool)
    assert metrics.histogram_distance(smooth_volume, mask, smooth_volume + 0.1, mask) == pytest.approx(0.1, abs=1e-4)


def test_bad_shapes_and_empty_masks_are_refused(smooth_volume):
    with pytest.raises(InvalidInputError):
        metrics.psnr(smooth_volume, smooth_volume[:-1])
    with pytest.raises(InvalidInputError):
        metrics.ssim(smooth_volume, smooth_volume, np.zeros(smooth_volume.shape, bool))
