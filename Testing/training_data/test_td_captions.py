"""Caption builder: volumes, norms, phrase choice by z-score, paraphrase determinism, override."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from braingen3d.core.errors import InvalidInputError
from training.captions import CaptionBuilder, CohortNorms, structure_volumes
from training.captions.phrases import article, join_and

AFFINE_2MM = np.diag([2.0, 2.0, 2.0, 1.0])


def test_structure_volumes_count_labels_and_lesions():
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[0:10, :, :] = 2  # 4000 voxels GM
    labels[10:15, :, :] = 3  # 2000 WM
    labels[15:17, :, :] = 1  # 800 CSF
    labels[17:18, :10, :] = 4  # 200 ventricles
    labels[11:13, 2:4, 2:4] = 5  # 8-voxel lesion
    labels[11:13, 10:13, 10:13] = 5  # 18-voxel lesion, not touching the first
    volumes = structure_volumes(labels, AFFINE_2MM)
    voxel = 8.0 / 1000.0
    assert volumes["gm_ml"] == pytest.approx(4000 * voxel)
    assert volumes["wm_ml"] == pytest.approx((2000 - 26) * voxel)
    assert volumes["ventricles_ml"] == pytest.approx(200 * voxel)
    assert volumes["csf_ml"] == pytest.approx(1000 * voxel)
    assert volumes["brain_ml"] == pytest.approx(6000 * voxel)
    assert volumes["lesion_ml"] == pytest.approx(26 * voxel)
    assert volumes["lesion_count"] == 2
    assert volumes["lesion_max_diameter_mm"] == pytest.approx((6 * 18 * 8 / np.pi) ** (1 / 3))


def test_structure_volumes_rejects_foreign_labels():
    with pytest.raises(InvalidInputError, match="0-5"):
        structure_volumes(np.full((4, 4, 4), 9), AFFINE_2MM)


def _records(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        age = 20 + 70 * i / (n - 1)
        sex = "M" if i % 2 else "F"
        icv = 1500 + (60 if sex == "M" else -60) + rng.normal(0, 30)
        rows.append({
            "subject_id": f"s{i}", "age": f"{age:.1f}", "sex": sex, "icv_ml": f"{icv:.2f}",
            "ventricles_ml": f"{15 + 0.4 * (age - 20) + 0.01 * (icv - 1500) + rng.normal(0, 3):.3f}",
            "gm_ml": f"{700 - 1.5 * (age - 20) + 0.3 * (icv - 1500) + rng.normal(0, 15):.3f}",
            "wm_ml": "500", "csf_ml": "300", "brain_ml": "1200", "lesion_ml": "0",
        })
    return rows


@pytest.fixture(scope="module")
def norms():
    return CohortNorms.fit(_records())


def test_norms_recover_the_age_trend_and_spread(norms, tmp_path):
    ventricles = norms.structures["ventricles_ml"]
    assert ventricles.expected(70, "F", 1440) == pytest.approx(15 + 0.4 * 50 - 0.6, abs=2.0)
    assert ventricles.sd == pytest.approx(3.0, rel=0.4)
    expected = ventricles.expected(70, "F", 1440)
    assert norms.zscore("ventricles_ml", expected + 2 * ventricles.sd, 70, "F", 1440) == pytest.approx(2.0)
    norms.save(tmp_path / "norms.json")
    loaded = CohortNorms.load(tmp_path / "norms.json")
    assert loaded.zscore("gm_ml", 600.0, 50, "M", 1550) == pytest.approx(norms.zscore("gm_ml", 600.0, 50, "M", 1550))


def test_norms_need_enough_subjects():
    with pytest.raises(InvalidInputError, match="at least 5"):
        CohortNorms.fit(_records()[:3])


def _record(norms, age=70.0, sex="F", ventricles_z=0.0, gm_z=0.0, lesions=0, modality="FLAIR", **extra):
    icv = 1440.0
    v = norms.structures["ventricles_ml"]
    g = norms.structures["gm_ml"]
    return {
        "subject_id": "x", "image": "x.nii.gz", "modality": modality, "age": str(age), "sex": sex,
        "tissue_map": "", "lesion_mask": "", "dataset": "d", "caption": "", "split": "train",
        "icv_ml": str(icv),
        "ventricles_ml": str(v.expected(age, sex, icv) + ventricles_z * v.sd),
        "gm_ml": str(g.expected(age, sex, icv) + gm_z * g.sd),
        "lesion_count": str(lesions), "lesion_max_diameter_mm": "11.6" if lesions else "0", **extra,
    }


@pytest.mark.parametrize(("z", "phrase"), [(0.0, "normal ventricles"), (0.9, "normal ventricles"), (1.2, "enlarged ventricles"), (-2.0, "normal ventricles")])
def test_ventricle_phrase_follows_z_score(norms, z, phrase):
    captions = CaptionBuilder(norms).captions(_record(norms, ventricles_z=z), 10, seed=0)
    for caption in captions:
        assert phrase in caption
        assert ("normal ventricles" in caption) + ("enlarged ventricles" in caption) == 1


def test_grey_matter_phrase_only_when_reduced(norms):
    builder = CaptionBuilder(norms)
    assert all("reduced grey-matter volume" in c for c in builder.captions(_record(norms, gm_z=-1.5), 6, seed=1))
    assert not any("grey-matter" in c for c in builder.captions(_record(norms, gm_z=-0.5), 6, seed=1))


def test_lesion_phrases(norms):
    builder = CaptionBuilder(norms)
    assert all("no lesions" in c for c in builder.captions(_record(norms, lesions=0), 6, seed=2))
    single = builder.captions(_record(norms, lesions=1), 30, seed=2)
    assert all("a white-matter lesion" in c or "a 12 mm white-matter hyperintensity" in c for c in single)
    assert any("12 mm" in c for c in single)
    t1 = builder.captions(_record(norms, lesions=1, modality="T1"), 30, seed=2)
    assert not any("hyperintensity" in c for c in t1)
    assert all("multiple white-matter lesions" in c for c in builder.captions(_record(norms, lesions=4), 6, seed=2))


def test_captions_name_age_sex_and_modality(norms):
    builder = CaptionBuilder(norms, drop_probability=0.0)
    for modality, word in (("T1", "T1"), ("T2", "T2"), ("FLAIR", "FLAIR"), ("PD", "P")):
        for caption in builder.captions(_record(norms, age=72.4, sex="F", modality=modality), 5, seed=3):
            assert "72" in caption
            assert "woman" in caption or "female" in caption
            assert word in caption or "proton-density" in caption
    male = builder.captions(_record(norms, age=45, sex="M"), 5, seed=3)
    assert all(("man" in c.split() or "man;" in c or "man," in c or "male" in c) and "woman" not in c for c in male)


def test_paraphrases_are_deterministic_and_varied(norms):
    builder = CaptionBuilder(norms)
    record = _record(norms, ventricles_z=2.0, lesions=3)
    assert builder.captions(record, 5, seed=9) == builder.captions(record, 5, seed=9)
    assert len(set(builder.captions(record, 5, seed=9))) >= 4
    assert builder.captions(record, 5, seed=9) != builder.captions(record, 5, seed=10)
    rng_a, rng_b = np.random.default_rng(4), np.random.default_rng(4)
    assert [builder.caption(record, rng_a) for _ in range(5)] == [builder.caption(record, rng_b) for _ in range(5)]


def test_caption_column_overrides(norms):
    record = _record(norms, caption="my own words")
    builder = CaptionBuilder(norms)
    assert builder.captions(record, 3, seed=0) == ["my own words"] * 3
    assert builder.caption(record, np.random.default_rng(0)) == "my own words"


def test_without_measurements_only_patient_data_is_said(norms):
    record = {"subject_id": "x", "modality": "T2", "age": "33", "sex": "M", "tissue_map": "", "caption": ""}
    for caption in CaptionBuilder(norms, drop_probability=0.0).captions(record, 5, seed=0):
        assert "ventricles" not in caption and "lesion" not in caption
        assert "33" in caption and "T2" in caption


def test_volumes_are_measured_from_the_tissue_map_file(norms, tmp_path):
    labels = np.full((40, 40, 40), 3, np.uint8)
    labels[:, :, :5] = 2
    labels[15:25, 15:25, 15:25] = 4  # 1000 voxels of 8 ml-thousandths = 8 ml of ventricles (tiny brain)
    nib.save(nib.Nifti1Image(labels, AFFINE_2MM), tmp_path / "labels.nii.gz")
    record = {"subject_id": "x", "modality": "T1", "age": "60", "sex": "F", "tissue_map": "labels.nii.gz", "caption": ""}
    builder = CaptionBuilder(norms, root=tmp_path)
    assert builder.measurements(record)["ventricles_ml"] == pytest.approx(8.0)
    assert all("no lesions" in c and "ventricles" in c for c in builder.captions(record, 3, seed=0))


def test_bad_record_values_are_reported(norms):
    record = _record(norms)
    record["age"] = "old"
    with pytest.raises(InvalidInputError, match="Age"):
        CaptionBuilder(norms).captions(record, 1, seed=0)
    with pytest.raises(InvalidInputError, match="Modality"):
        CaptionBuilder(norms).captions(_record(norms, modality="CT"), 1, seed=0)


def test_grammar_helpers():
    assert join_and(["a", "b", "c"]) == "a, b and c"
    assert article("80-year-old") == "an" and article("18-year-old") == "an" and article("72-year-old") == "a"
