"""The foreground estimate and the intensity map between the user's scale and the model's [0, 1]."""

from __future__ import annotations

import numpy as np

from braingen3d.core.intensity import foreground_mask
from braingen3d.pipelines.inpaint.model_space import IntensityMap
from Testing.inpaint.inpaint_phantoms import BRAIN_CENTRE, BRAIN_SEMI_AXES, make_case


def brain_of(case) -> np.ndarray:
    return np.sqrt((((case.world - BRAIN_CENTRE) / BRAIN_SEMI_AXES) ** 2).sum(-1)) < 1


def test_foreground_is_the_brain_with_ventricles_filled_on_zero_padded_and_noisy_backgrounds():
    case = make_case(dtype=np.float32)
    brain = brain_of(case)
    assert np.array_equal(foreground_mask(case.volume), brain)  # zero background; dark ventricles filled
    noisy = case.volume + np.abs(np.random.default_rng(0).normal(0.0, 8.0, case.volume.shape)).astype(np.float32)
    found = foreground_mask(noisy)
    dice = 2 * np.count_nonzero(found & brain) / (found.sum() + brain.sum())
    assert dice > 0.97


def test_intensity_map_is_robust_normalise_and_its_inverse():
    case = make_case(dtype=np.int16)
    foreground = foreground_mask(case.volume)
    mapping = IntensityMap.fit(case.volume, foreground, (0.5, 99.5))
    normalised = mapping.normalise(case.volume, foreground)
    linear = np.clip((case.volume.astype(np.float32) - mapping.low) / (mapping.high - mapping.low), 0, 1)
    np.testing.assert_allclose(normalised, linear, atol=1e-6)
    inside = (normalised > 0) & (normalised < 1)
    np.testing.assert_allclose(mapping.to_input_scale(normalised[inside]), case.volume[inside], atol=1e-3)
    assert mapping.low < mapping.high and mapping.to_dict()["percentiles"] == [0.5, 99.5]
