"""Quick picks compose prompts in the wording of the training captions."""

from __future__ import annotations

import itertools

import pytest

from BrainGen3DLib.prompt_builder import ANY_AGE, Lesions, Modality, QuickPicks, Sex, Ventricles, compose_prompt


@pytest.mark.parametrize(
    "picks, expected",
    [
        (QuickPicks(), "T1-weighted MRI of a person"),
        (QuickPicks(Modality.FLAIR, 80, Sex.MALE, Ventricles.ENLARGED, Lesions.MULTIPLE),
         "FLAIR MRI of an 80-year-old man with enlarged ventricles and multiple white-matter lesions"),
        (QuickPicks(Modality.PD, ANY_AGE, Sex.FEMALE, Ventricles.NORMAL, Lesions.ONE),
         "Proton-density-weighted MRI of a woman with normal ventricles and a white-matter lesion"),
        (QuickPicks(Modality.T2, 18, Sex.ANY, Ventricles.ANY, Lesions.NONE),
         "T2-weighted MRI of an 18-year-old person with no lesions"),
        (QuickPicks(Modality.T2, 45, Sex.FEMALE), "T2-weighted MRI of a 45-year-old woman"),
    ],
)
def test_compose_prompt(picks, expected):
    assert compose_prompt(picks) == expected


def test_every_combination_names_each_chosen_finding_once():
    ages = [ANY_AGE, 11, 64]
    for modality, age, sex, ventricles, lesions in itertools.product(Modality, ages, Sex, Ventricles, Lesions):
        text = compose_prompt(QuickPicks(modality, age, sex, ventricles, lesions))
        assert text.count("ventricles") == (ventricles != Ventricles.ANY)
        assert ("lesion" in text) == (lesions != Lesions.ANY)
        assert (f"{age}-year-old" in text) == (age != ANY_AGE)
        assert "  " not in text and not text.endswith(" ")


def test_enum_labels_are_the_combo_box_texts():
    assert [m.label() for m in Modality] == ["T1-weighted", "T2-weighted", "FLAIR", "PD-weighted"]
    assert [s.label() for s in Sex] == ["any", "female", "male"]
