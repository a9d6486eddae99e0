"""Template-derived cohort: determinism, attribute effects, contrasts, lesions and the CLI."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from braingen3d.core.geometry import mni_grid
from training.cohort import load_templates, sample_attributes, synthesize_subject
from training.cohort.deform import ventricle_flow
from training.cohort.generate import main as generate_main
from training.cohort.population import expected_ventricle_ratio
from training.data.manifest import read_manifest

GRID = mni_grid((40, 48, 40), 4.0)
MODALITIES = ("T1", "T2", "FLAIR", "PD")


@pytest.fixture(scope="module")
def model():
    return load_templates(GRID), ventricle_flow(GRID)


def synthesize(model, seed: int = 0, **overrides):
    templates, flow = model
    rng = np.random.default_rng(seed)
    attributes = sample_attributes(rng, "s", "train", list(MODALITIES))
    for name, value in overrides.items():
        setattr(attributes, name, value)
    return synthesize_subject(templates, flow, attributes, rng, MODALITIES)


def volume_ml(mask) -> float:
    return float(np.count_nonzero(mask)) * 4.0**3 / 1000.0


def test_template_ventricles_are_the_lateral_ventricles(model):
    templates, _ = model
    volume = float(templates.ventricles.sum()) * 4.0**3 / 1000.0
    assert 10.0 < volume < 30.0  # lateral ventricles of a young adult, not the midline cisterns
    x = GRID.affine[0, 0] * np.arange(GRID.shape[0]) + GRID.affine[0, 3]
    left = templates.ventricles[x < -4].sum()
    right = templates.ventricles[x > 4].sum()
    assert left > 0.35 * templates.ventricles.sum() and right > 0.35 * templates.ventricles.sum()


def test_same_seed_gives_identical_subject_and_other_seed_differs(model):
    first, second, other = synthesize(model, 3), synthesize(model, 3), synthesize(model, 4)
    for modality in MODALITIES:
        np.testing.assert_array_equal(first.images[modality], second.images[modality])
    np.testing.assert_array_equal(first.labels, second.labels)
    assert not np.array_equal(first.labels, other.labels)


def test_age_effects_enlarge_ventricles_and_thin_the_cortex(model):
    young = synthesize(model, 7, ventricle_ratio=expected_ventricle_ratio(25), cortical_thinning=0.0, lesion_count=0)
    old = synthesize(model, 7, ventricle_ratio=expected_ventricle_ratio(85), cortical_thinning=0.5, lesion_count=0)
    ratio = volume_ml(old.labels == 4) / volume_ml(young.labels == 4)
    assert 1.6 < ratio < 3.5
    assert volume_ml(old.labels == 2) < 0.93 * volume_ml(young.labels == 2)
    assert old.fractions.csf.sum() > 1.1 * young.fractions.csf.sum()  # wider sulci
    # Atrophy happens inside the skull: the brain outline stays the same.
    assert abs(volume_ml(old.brain) / volume_ml(young.brain) - 1.0) < 0.02


def test_larger_scale_gives_larger_brain(model):
    small = synthesize(model, 2, scale=0.97)
    large = synthesize(model, 2, scale=1.03)
    assert volume_ml(large.brain) / volume_ml(small.brain) == pytest.approx((1.03 / 0.97) ** 3, rel=0.05)


def test_contrast_ordering_per_modality(model):
    subject = synthesize(model, 1, ventricle_ratio=2.5, lesion_count=0)
    f = subject.fractions
    pure = {"csf": (f.csf + f.ventricles) > 0.85, "gm": f.gm > 0.85, "wm": f.wm > 0.85}
    means = {m: {t: float(subject.images[m][mask].mean()) for t, mask in pure.items()} for m in MODALITIES}
    assert means["T1"]["wm"] > means["T1"]["gm"] > means["T1"]["csf"]
    assert means["T2"]["csf"] > means["T2"]["gm"] > means["T2"]["wm"]
    assert means["FLAIR"]["gm"] > means["FLAIR"]["wm"] > means["FLAIR"]["csf"]
    assert means["PD"]["csf"] > means["PD"]["gm"] > means["PD"]["wm"]


def test_lesions_are_bright_on_flair_t2_pd_and_dark_on_t1(model):
    subject = synthesize(model, 5, lesion_count=6)
    lesion = subject.lesion_mask.astype(bool)
    assert lesion.any()
    np.testing.assert_array_equal(lesion, subject.labels == 5)
    wm = subject.fractions.wm > 0.85
    for modality in ("FLAIR", "T2", "PD"):
        assert subject.images[modality][lesion].mean() > subject.images[modality][wm].mean() + 0.05
    assert subject.images["T1"][lesion].mean() < subject.images["T1"][wm].mean() - 0.05
    assert not synthesize(model, 5, lesion_count=0).lesion_mask.any()


def test_images_are_normalised_with_zero_background(model):
    subject = synthesize(model, 8)
    for image in subject.images.values():
        assert image.dtype == np.float32
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert np.all(image[~subject.brain] == 0.0)
        assert np.mean(image[subject.brain] > 0.05) > 0.95
    assert set(np.unique(subject.labels)) <= {0, 1, 2, 3, 4, 5}
    np.testing.assert_array_equal(subject.labels > 0, subject.brain)


def test_ventricle_norm_grows_two_to_three_fold_over_adult_life():
    ages = np.linspace(20, 90, 15)
    ratios = [expected_ventricle_ratio(a) for a in ages]
    assert np.all(np.diff(ratios) > 0)
    assert 2.0 <= ratios[-1] / ratios[0] <= 3.0


def _generate(out, *extra):
    return generate_main(["--out", str(out), "--subjects", "5", "--held-out", "1", "--modalities", "T1", "FLAIR",
                          "--seed", "11", "--shape", "40", "48", "40", "--spacing", "4", "--no-progress", *extra])


@pytest.mark.slow
def test_cli_writes_a_complete_reproducible_cohort(tmp_path):
    assert _generate(tmp_path / "a") == 0
    assert _generate(tmp_path / "b", "--workers", "2") == 0
    rows = read_manifest(tmp_path / "a" / "manifest.csv", check_files=True)
    assert len(rows) == 12
    assert sorted({r["split"] for r in rows}) == ["test", "train"]
    assert sum(r["split"] == "test" for r in rows) == 2
    cohort = json.loads((tmp_path / "a" / "cohort.json").read_text())
    assert cohort["parameters"]["seed"] == 11 and len(cohort["subjects"]) == 6
    assert all(20 <= s["attributes"]["age"] <= 90 for s in cohort["subjects"])
    for row in rows:
        image = nib.load(row["image"])
        assert image.get_data_dtype() == np.float32
        np.testing.assert_allclose(image.affine, GRID.affine)
        twin = nib.load(row["image"].replace(str(tmp_path / "a"), str(tmp_path / "b")))
        np.testing.assert_array_equal(np.asarray(image.dataobj), np.asarray(twin.dataobj))
        labels = nib.load(row["tissue_map"])
        assert labels.get_data_dtype() == np.uint8
        lesion = np.asarray(nib.load(row["lesion_mask"]).dataobj)
        np.testing.assert_array_equal(lesion > 0, np.asarray(labels.dataobj) == 5)
        assert float(row["ventricles_ml"]) == pytest.approx(volume_ml(np.asarray(labels.dataobj) == 4), abs=1e-3)
    assert "ventricles_ml" in json.loads((tmp_path / "a" / "norms.json").read_text())["structures"]


def test_cli_refuses_to_overwrite_an_existing_cohort(tmp_path):
    out = tmp_path / "cohort"
    out.mkdir()
    (out / "manifest.csv").write_text("keep me\n")
    assert _generate(out) == 2
    assert (out / "manifest.csv").read_text() == "keep me\n"
