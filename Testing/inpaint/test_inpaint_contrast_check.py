"""The lesion-contrast check: reading the prompt, measuring the contrast, and retrying with the next seed."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from braingen3d.core.errors import InvalidInputError
from braingen3d.pipelines.inpaint.contrast_check import SurroundingTissue
from braingen3d.pipelines.inpaint.model_space import IntensityMap
from braingen3d.prompts.parser import HYPERINTENSE, HYPOINTENSE, requested_contrast
from braingen3d.requests.inpaint import ContrastCheck, validate_contrast_settings
from Testing.inpaint.inpaint_phantoms import make_case


@pytest.mark.parametrize("prompt, expected", [
    ("a 10 mm white-matter hyperintensity", HYPERINTENSE),
    ("FLAIR hyper-intense periventricular lesion", HYPERINTENSE),
    ("a bright lesion", HYPERINTENSE),
    ("a T1 black hole", HYPOINTENSE),
    ("a hypointense lesion in the pons", HYPOINTENSE),
    ("multiple small periventricular lesions", None),
    ("no lesions", None),
    ("no hyperintense lesions", None),
    ("a bright brain without white-matter lesions", None),
    ("a bright rim around a dark core", None),
])
def test_the_prompt_names_the_contrast_to_check(prompt, expected):
    assert requested_contrast(prompt) == expected


def test_the_margin_applies_above_for_hyperintense_and_below_for_hypointense():
    hyper, hypo, unchecked = ContrastCheck(HYPERINTENSE, 1.1), ContrastCheck(HYPOINTENSE, 1.25), ContrastCheck(None)
    assert hyper.passes(1.1) and not hyper.passes(1.09) and not hyper.passes(float("nan"))
    assert hypo.passes(0.8) and not hypo.passes(0.81)
    assert unchecked.passes(float("nan")) and unchecked.passes(0.1)
    assert hyper.better(1.05, 1.0) and hypo.better(0.9, 1.0) and hyper.better(1.0, float("nan"))


@pytest.mark.parametrize("attempts, min_contrast, word", [
    (0, None, "attempts"), (11, None, "attempts"), (2.5, None, "attempts"), (True, None, "attempts"),
    (None, 0.9, "min_contrast"), (None, 4.0, "min_contrast"), (None, "1.2", "min_contrast"),
])
def test_bad_retry_settings_are_refused_with_the_range(attempts, min_contrast, word):
    with pytest.raises(InvalidInputError, match=word):
        validate_contrast_settings(attempts, min_contrast)
    assert validate_contrast_settings(None, None) == (3, 1.1)


def _block(offset: float = 0.0):
    """A 30^3 grid: tissue of 100 (+ offset) in a 20^3 block, background 0, a 5-voxel-radius mask inside."""
    volume = np.zeros((30, 30, 30), np.float32)
    volume[5:25, 5:25, 5:25] = 100.0 + offset
    foreground = volume > 0
    centre = np.array([15, 15, 15]).reshape(3, 1, 1, 1)
    distance = np.linalg.norm(np.indices(volume.shape) - centre, axis=0)
    return volume, foreground, distance <= 3, distance <= 4


def test_the_ratio_is_taken_on_the_model_scale_against_untouched_tissue_only():
    volume, foreground, mask, region = _block(offset=50.0)
    volume[region & ~mask] = 1000.0  # the blend band is regenerated, so it must not count as surroundings
    surrounding = SurroundingTissue(volume, mask, region, foreground, (1.0, 1.0, 1.0), IntensityMap(50.0, 200.0, (0.5, 99.5)))
    assert surrounding.reference == pytest.approx(100.0 / 150.0)  # (150 - 50) / (200 - 50)
    inpainted = volume.copy()
    inpainted[mask] = 250.0  # (250 - 50) / 150 on the model scale: twice the surroundings, not 250/150
    assert surrounding.ratio(inpainted) == pytest.approx(2.0)


def test_background_around_the_mask_is_not_surrounding_tissue():
    volume, foreground, mask, region = _block()
    shifted = [np.roll(a, 9, axis=0) for a in (mask, region)]  # the mask now touches the block's edge
    surrounding = SurroundingTissue(volume, shifted[0], shifted[1], foreground, (1.0, 1.0, 1.0),
                                    IntensityMap(0.0, 200.0, (0.5, 99.5)))
    assert surrounding.reference == pytest.approx(0.5)
    empty = SurroundingTissue(volume, mask, region, np.zeros_like(foreground), (1.0, 1.0, 1.0),
                              IntensityMap(0.0, 200.0, (0.5, 99.5)))
    assert empty.reference is None and np.isnan(empty.ratio(volume))


@pytest.fixture
def scripted_ratios(monkeypatch):
    """Make the measured contrast of successive samples follow a script (the samples themselves are real)."""
    measured = []

    def install(ratios):
        queue = list(ratios)

        def ratio(self, inpainted):
            measured.append(inpainted.copy())
            return queue.pop(0)

        monkeypatch.setattr(SurroundingTissue, "ratio", ratio)
        return measured

    return install


def _inpaint(inpainter, prompt, **kwargs):
    case = make_case("oblique", dtype=np.float32)
    events = []
    result = inpainter(case.volume, case.affine, case.mask, prompt, num_inference_steps=2, seed=10, callback=events.append,
                       **kwargs)
    return result, events


@pytest.mark.slow
def test_a_missed_contrast_is_retried_with_the_next_seed_and_the_passing_sample_is_returned(inpainter, scripted_ratios):
    measured = scripted_ratios([0.9, 1.3, 2.0])
    result, events = _inpaint(inpainter, "a 12 mm white-matter hyperintensity")
    check = result.provenance["contrast_check"]
    assert [(a["seed"], a["ratio"], a["passed"]) for a in check["attempts"]] == [(10, 0.9, False), (11, 1.3, True)]
    assert result.provenance["seed"] == 11 and result.provenance["requested_seed"] == 10 and check["passed"] is True
    assert result.mask_provenance["seed"] == 11 and result.provenance["max_attempts"] == 3
    assert np.array_equal(result.array, measured[1]) and not np.array_equal(measured[0], measured[1])
    denoise = [(e.volume, e.num_volumes) for e in events if e.phase == "denoise"]
    assert denoise == sorted(denoise) and set(denoise) == {(1, 3), (2, 3)}
    assert [e.volume for e in events if e.phase == "decode"] == [1, 2]


def test_the_recorded_seed_reproduces_the_returned_sample_in_one_attempt(inpainter, scripted_ratios):
    scripted_ratios([0.9, 1.3, 1.5])
    first, _ = _inpaint(inpainter, "a 12 mm white-matter hyperintensity")
    case = make_case("oblique", dtype=np.float32)
    again = inpainter(case.volume, case.affine, case.mask, "a 12 mm white-matter hyperintensity",
                      num_inference_steps=2, seed=first.provenance["seed"], attempts=1)
    assert np.array_equal(again.array, first.array)


def test_when_every_attempt_misses_the_closest_is_kept_and_a_warning_says_so(inpainter, scripted_ratios, caplog):
    measured = scripted_ratios([1.0, 1.05, 0.8])
    with caplog.at_level(logging.WARNING, logger="braingen3d.pipelines.inpaint.inpainter"):
        result, _ = _inpaint(inpainter, "a 12 mm white-matter hyperintensity")
    check = result.provenance["contrast_check"]
    assert len(check["attempts"]) == 3 and check["passed"] is False and result.provenance["seed"] == 11
    assert np.array_equal(result.array, measured[1])
    assert "No hyperintense lesion after 3 attempt(s)" in caplog.text


def test_a_hypointense_prompt_wants_a_darker_region(inpainter, scripted_ratios):
    scripted_ratios([1.2, 0.7])
    result, _ = _inpaint(inpainter, "a hypointense T1 black hole", min_contrast=1.25)
    check = result.provenance["contrast_check"]
    assert check["requested"] == HYPOINTENSE and check["min_ratio"] == 1.25
    assert [a["passed"] for a in check["attempts"]] == [False, True] and result.provenance["seed"] == 11


def test_a_prompt_without_a_contrast_takes_one_sample_and_measures_nothing(inpainter, scripted_ratios):
    scripted_ratios([])  # popping from the empty script would fail the test
    result, events = _inpaint(inpainter, "multiple small periventricular lesions")
    check = result.provenance["contrast_check"]
    assert check == {"requested": None, "checked": False, "min_ratio": 1.1, "surrounding_median_model_scale": None,
                     "attempts": [], "passed": None}
    assert result.provenance["seed"] == 10 and {e.volume for e in events} == {1}


def test_the_recorded_ratio_is_the_returned_volume_s(inpainter):
    """Unscripted: the provenance's ratio is recomputed from the returned array and the source."""
    case = make_case("oblique", dtype=np.float32)
    result = inpainter(case.volume, case.affine, case.mask, "a 12 mm white-matter hyperintensity",
                       num_inference_steps=2, seed=4)
    check = result.provenance["contrast_check"]
    used = next(a for a in check["attempts"] if a["seed"] == result.provenance["seed"])
    intensity = IntensityMap(**{k: v for k, v in result.provenance["intensity_map"].items() if k != "percentiles"},
                             percentiles=tuple(result.provenance["intensity_map"]["percentiles"]))
    lesion = (result.array[case.mask.astype(bool)].mean() - intensity.low) / (intensity.high - intensity.low)
    assert used["ratio"] == pytest.approx(lesion / check["surrounding_median_model_scale"], rel=1e-3)


def test_coarse_grids_still_find_surrounding_tissue_two_voxels_out():
    volume, foreground, mask, region = _block()
    coarse = SurroundingTissue(volume, mask, region, foreground, (12.0, 12.0, 12.0), IntensityMap(0.0, 200.0, (0.5, 99.5)))
    assert coarse.reference == pytest.approx(0.5)
