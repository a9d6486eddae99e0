"""Label-free measurements on images in template space (used to evaluate generated volumes)."""

from __future__ import annotations

import numpy as np
import pytest

from braingen3d.core.errors import InvalidInputError
from braingen3d.core.geometry import mni_grid
from training.captions.measure import template_tissue_masks, tissue_means, ventricle_volume_ml
from training.cohort import load_templates, sample_attributes, synthesize_subject
from training.cohort.deform import ventricle_flow

GRID = mni_grid((40, 48, 40), 4.0)
MODALITIES = ("T1", "T2", "FLAIR", "PD")


@pytest.fixture(scope="module")
def subjects():
    templates, flow = load_templates(GRID), ventricle_flow(GRID)
    out = []
    for ratio in (1.0, 1.8, 2.6, 3.6):
        rng = np.random.default_rng(21)
        attributes = sample_attributes(rng, "s", "train", list(MODALITIES))
        attributes.ventricle_ratio = ratio
        attributes.lesion_count = 0
        out.append(synthesize_subject(templates, flow, attributes, rng, MODALITIES))
    return out


def test_masks_are_nested_sensibly():
    masks = template_tissue_masks(GRID)
    assert set(masks) == {"wm", "gm", "deep_gm", "ventricles", "ventricle_roi"}
    assert all(mask.any() and mask.shape == GRID.shape for mask in masks.values())
    assert not (masks["wm"] & masks["gm"]).any()
    assert (masks["ventricles"] & masks["ventricle_roi"]).sum() > 0.8 * masks["ventricles"].sum()


def test_tissue_means_follow_the_contrast(subjects):
    means = tissue_means(subjects[0].images["T1"], GRID)
    assert means["wm"] > means["gm"] > means["ventricles"]
    means = tissue_means(subjects[0].images["T2"], GRID)
    assert means["ventricles"] > means["gm"] > means["wm"]


def test_background_in_the_cortical_band_of_a_small_t2_brain_is_not_taken_for_grey_matter(subjects):
    """A brain smaller than the template leaves background in the template's cortical band. On T2,
    white matter is nearly as dark as background, so a floor tied to the WM level let the background in."""
    image = subjects[0].images["T2"].copy()
    band = template_tissue_masks(GRID)["gm"]
    before = tissue_means(image, GRID)
    outer = band & (np.random.default_rng(0).random(band.shape) < 0.6)
    image[outer] = 0.1 * before["wm"]  # 60% of the band is now dim background (a decoder's, not exactly 0)
    truth = before["gm"]
    means = tissue_means(image, GRID)
    assert means["gm"] == pytest.approx(truth, rel=0.25) and means["ventricles"] > means["gm"] > means["wm"]


@pytest.mark.parametrize("modality", MODALITIES)
def test_ventricle_volume_from_the_image_tracks_the_labels(subjects, modality):
    truth = [np.count_nonzero(s.labels == 4) * 64 / 1000 for s in subjects]
    estimate = [ventricle_volume_ml(s.images[modality], modality, GRID) for s in subjects]
    assert np.all(np.diff(truth) > 0)
    assert np.all(np.diff(estimate) > 0)
    assert 0.5 < estimate[-1] / truth[-1] < 1.5


def test_wrong_grid_or_modality_is_rejected(subjects):
    with pytest.raises(InvalidInputError, match="shape"):
        tissue_means(np.zeros((10, 10, 10), np.float32), GRID)
    with pytest.raises(InvalidInputError, match="modality"):
        ventricle_volume_ml(subjects[0].images["T1"], "CT", GRID)
    # A T1 whose CSF is bright is not T1-like: reported as no ventricles rather than nonsense.
    assert ventricle_volume_ml(subjects[0].images["T2"], "T1", GRID) == 0.0
