"""Diversity and memorisation: identical samples and a copied training subject are caught."""

from __future__ import annotations

import copy

import eval_phantoms as phantoms

from braingen3d.evaluation.similarity import mean_pairwise_ms_ssim, memorisation


def test_identical_samples_have_no_diversity():
    reference = phantoms.samples(phantoms.cohort(5, 1, ("T1",)))
    clone = phantoms.samples(phantoms.cohort(1, 2, ("T1",), prefix="g"), generated=True)[0]
    clones = [copy.copy(clone) for _ in range(5)]
    for index, sample in enumerate(clones):
        sample.name = f"clone{index}"
    generated, real = mean_pairwise_ms_ssim(clones), mean_pairwise_ms_ssim(reference)
    assert generated["mean"] > 0.999 and real["mean"] < 0.98
    assert generated["per_modality"]["T1"]["pairs"] == 10


def _memorisation(generated):
    held_out = phantoms.samples(phantoms.cohort(6, 1, ("T1", "T2")))
    training = phantoms.samples(phantoms.cohort(10, 3, ("T1", "T2"), prefix="t"))
    phantoms.with_masks(held_out, [*generated, *training])
    return memorisation(generated, held_out, lambda modality: [t for t in training if t.modality == modality]), training


def test_an_exact_copy_of_a_training_subject_is_flagged():
    new_subjects = phantoms.samples(phantoms.cohort(3, 2, ("T1", "T2"), prefix="g"), generated=True)
    training = phantoms.samples(phantoms.cohort(10, 3, ("T1", "T2"), prefix="t"))
    copied = copy.copy(training[4])  # a T1 of training subject t03002
    copied.name, copied.info = "gen_copy_T1", {"generated": True}
    result, _ = _memorisation([*new_subjects, copied])
    flagged = {row["name"]: row for row in result["flagged"]}
    assert "gen_copy_T1" in flagged
    assert flagged["gen_copy_T1"]["nearest_training"] == training[4].name and flagged["gen_copy_T1"]["ssim"] > 0.999
    assert result["generated_max_ssim"] > result["held_out_max_ssim"]
    assert result["n_generated"] == 7 and result["n_held_out"] == 12 and result["training"] == {"T1": 10, "T2": 10}


def test_new_subjects_are_no_closer_than_held_out_ones():
    result, _ = _memorisation(phantoms.samples(phantoms.cohort(6, 2, ("T1", "T2"), prefix="g"), generated=True))
    assert result["generated_max_ssim"] < 0.99
    assert result["closer_than_held_out_p"] > 0.01
    assert 0 < result["chance_of_a_flag_if_new_subjects"] < 1
