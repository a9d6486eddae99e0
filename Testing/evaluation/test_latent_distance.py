"""Latent Fréchet distance and MMD grow when the generated volumes differ from the reference."""

from __future__ import annotations

import eval_phantoms as phantoms
import pytest

from braingen3d.evaluation.latent_distance import latent_distances
from braingen3d.evaluation.splits import matched_comparison


@pytest.fixture(scope="module")
def autoencoder(phantom_bundle):
    from braingen3d.evaluation.engine_adapter import load_autoencoder

    return load_autoencoder(phantom_bundle)


def _distances(autoencoder, transform=None):
    reference = phantoms.samples(phantoms.cohort(12, 1, ("T1",)))
    generated = phantoms.samples(phantoms.cohort(12, 2, ("T1",), prefix="g"), generated=True, transform=transform)
    network, scale = autoencoder
    return latent_distances(matched_comparison(generated, reference, seed=0), network, scale, seed=0)


def test_same_population_is_near_the_baseline_and_a_blurred_copy_is_not(autoencoder):
    # The tiny bundle's encoder has random weights (GroupNorm makes it nearly blind to a plain intensity
    # shift), so the test uses blur, which changes every latent.
    same = _distances(autoencoder)
    blurred = _distances(autoencoder, phantoms.blur(1.5))
    assert same["n_generated"] == same["n_reference_b"] == 6 and same["summary_length"] == 8 * 4
    assert same["frechet_ratio"] < 3
    assert blurred["frechet_distance"] > 5 * blurred["baseline_frechet_distance"]
    assert blurred["mmd"] > 20 * abs(blurred["baseline_mmd"]) and blurred["mmd"] > 20 * abs(same["mmd"])
