"""In-brain histogram distances: near the baseline for more of the same population, far above it for a shifted copy."""

from __future__ import annotations

import eval_phantoms as phantoms
from PIL import Image

from braingen3d.evaluation.histograms import histogram_distances, plot_histograms
from braingen3d.evaluation.splits import matched_comparison


def _distances(transform=None):
    reference = phantoms.samples(phantoms.cohort(8, 1, ("T1",)))
    generated = phantoms.samples(phantoms.cohort(8, 2, ("T1",), prefix="g"), generated=True, transform=transform)
    phantoms.with_masks(reference, generated)
    return histogram_distances(matched_comparison(generated, reference, seed=0))["T1"]


def test_same_population_stays_near_the_baseline():
    entry = _distances()
    assert entry["n_generated"] == entry["n_reference_b"] == 4 and entry["n_reference_a"] == 4
    assert entry["w1"] < 2.5 * entry["baseline_w1"]


def test_shifted_grey_levels_are_far_above_the_baseline():
    entry = _distances(phantoms.shift(0.06))
    assert entry["w1"] > 0.04 and entry["w1"] > 5 * entry["baseline_w1"]


def test_plot_is_written(tmp_path):
    entry = _distances()
    path = plot_histograms({"T1": entry}, tmp_path / "h.png")
    with Image.open(path) as image:
        assert image.width > 200 and image.height > 200
