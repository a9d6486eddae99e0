"""The batch plan: deterministic from the arguments, independent of N, and strict about templates and modalities."""

from __future__ import annotations

import json

import pytest

from braingen3d.batch import (
    GenerationSettings,
    LesionRanges,
    PromptTemplate,
    facts_from_prompt,
    lesion_phrase,
    parse_modality,
    plan_from_prompts,
    plan_from_template,
)
from braingen3d.batch.plan import modality_of_prompts
from braingen3d.core.errors import InvalidInputError
from Testing.batch.batch_helpers import TEMPLATE, batch_args, make_plan, run_cli


def test_plan_is_a_function_of_the_arguments_and_case_k_of_k_alone():
    plan = make_plan(6)
    assert plan == make_plan(6)
    assert [c.seed for c in plan.cases] == [0, 1, 2, 3, 4, 5]
    assert [c.case_id for c in plan.cases] == [f"synth_{k:04d}" for k in range(6)]
    # A longer batch keeps the first cases identical, so --n can grow on --resume.
    assert make_plan(10).cases[:6] == plan.cases
    assert [c.seed for c in make_plan(3, seed=100).cases] == [100, 101, 102]
    other = make_plan(6, seed=1)
    assert [c.attributes for c in other.cases] != [c.attributes for c in plan.cases]


def test_attributes_stay_in_their_ranges_and_the_prompts_say_them():
    plan = make_plan(40)
    for case in plan.cases:
        a = case.attributes
        assert 20 <= a["age"] <= 90 and a["sex"] in ("F", "M") and a["ventricles"] in ("normal", "enlarged")
        assert 0 <= case.lesion_count <= 3 and all(5 <= d <= 15 for d in case.lesion_diameters_mm)
        word = "woman" if a["sex"] == "F" else "man"
        assert f"{a['age']}-year-old {word} with {a['ventricles']} ventricles" in case.prompt
        assert case.prompt.startswith("FLAIR MRI of a")
        # Generation is lesion-free (lesions come from inpainting, so all of them are labelled).
        assert case.prompt.endswith("and no lesions")
        assert case.description.endswith(lesion_phrase(case.lesion_count, max(case.lesion_diameters_mm, default=0), "FLAIR"))
        assert (case.lesion_prompt is None) == (case.lesion_count == 0)
    assert {c.attributes["sex"] for c in plan.cases} == {"F", "M"}
    assert {c.lesion_count for c in plan.cases} == {0, 1, 2, 3}
    assert any(c.description.startswith("FLAIR MRI of an 8") for c in plan.cases if 80 <= c.attributes["age"] <= 89)


def test_digest_changes_with_anything_that_shapes_the_output():
    plan = make_plan(2)
    case = plan.cases[0]
    digests = {plan.digest(case),
               make_plan(2, seed=5).digest(make_plan(2, seed=5).cases[0]),
               plan_from_template(TEMPLATE, 2, 0, GenerationSettings("FLAIR", "bundle-x", "1.0", 5, 3.0, "dpm++"),
                                  LesionRanges.parse("0-3", "5-15", None), "20-90", "both", "normal,enlarged").digest(case)}
    assert len(digests) == 3


def test_unknown_template_attribute_names_the_known_ones():
    with pytest.raises(InvalidInputError) as error:
        PromptTemplate("{modality} MRI of a {weight} kg {sex}")
    message = str(error.value)
    assert "{weight}" in message
    for known in ("{modality}", "{age}", "{sex}", "{ventricles}", "{lesions}"):
        assert known in message
    for bad in ("{} MRI", "{age:03d}", "MRI of {age"):
        with pytest.raises(InvalidInputError):
            PromptTemplate(bad)


def test_unknown_template_attribute_from_the_cli_fails_before_any_work(tiny_bundle, tmp_path):
    args = batch_args(tiny_bundle, tmp_path, 3)
    args[args.index("--template") + 1] = "{modality} MRI with {tumour_grade}"
    code, _, err = run_cli(args)
    assert code == 2
    assert "unknown attribute {tumour_grade}" in err and "{ventricles}" in err
    assert not any(tmp_path.iterdir()), "nothing may be written"


def test_several_modalities_are_refused_with_the_reason():
    with pytest.raises(InvalidInputError, match="one channel list") as error:
        parse_modality("T1,FLAIR")
    assert "--dataset-id" in str(error.value)
    assert parse_modality("flair") == "FLAIR"
    with pytest.raises(InvalidInputError, match="unknown value"):
        parse_modality("DWI")


@pytest.mark.parametrize("option,value,match", [
    ("--age", "90-20", "lower end"), ("--age", "old", "not a number"), ("--age", "0-200", "outside"),
    ("--lesions", "1.5", "whole numbers"), ("--sex", "both,robot", "unknown value"),
    ("--ventricles", "tiny", "unknown value"), ("--lesion-size-mm", "0-5", "outside"),
])
def test_bad_ranges_are_refused(option, value, match, tiny_bundle, tmp_path):
    args = batch_args(tiny_bundle, tmp_path, 3)
    args[args.index(option) + 1] = value
    code, _, err = run_cli(args)
    assert code == 2 and match in err and option in err


def test_prompt_list_cycles_and_checks_its_modality(tmp_path):
    prompts = ["T2-weighted MRI of a 70-year-old woman with enlarged ventricles", "T2 brain MRI, male, 45 years"]
    plan = plan_from_prompts(prompts, 5, 10, GenerationSettings("T2", "b", "1", 4, 3.0, "dpm++"),
                             LesionRanges.parse("1", "8", "a {size} mm {modality} lesion"))
    assert [c.prompt for c in plan.cases] == [prompts[k % 2] for k in range(5)]
    assert [c.seed for c in plan.cases] == [10, 11, 12, 13, 14]
    assert plan.cases[0].attributes == {"modality": "T2", "age": 70, "sex": "F"}
    assert plan.cases[1].attributes == {"modality": "T2", "age": 45, "sex": "M"}
    assert plan.cases[0].lesion_prompt == "an 8 mm T2-weighted lesion"
    assert modality_of_prompts(prompts, None) == "T2"
    with pytest.raises(InvalidInputError, match="asks for T2 but the dataset's channel is FLAIR"):
        modality_of_prompts(prompts, "FLAIR")
    with pytest.raises(InvalidInputError, match="Pass --modality"):
        modality_of_prompts(["brain MRI of a man"], None)


def test_prompt_file_dry_run_prints_the_plan(tiny_bundle, tmp_path):
    prompt_file = tmp_path / "prompts.txt"
    prompt_file.write_text("# comment\nPD MRI of a 30-year-old woman\n\nPD MRI of a 64-year-old man\n", encoding="utf-8")
    code, out, err = run_cli(["batch", "-o", str(tmp_path / "raw"), "--dataset-id", "7", "--dataset-name", "P",
                              "--prompts", str(prompt_file), "--lesions", "0-1", "--bundle", str(tiny_bundle), "--dry-run"])
    assert code == 0, err
    cases = [json.loads(line) for line in out.splitlines()]
    assert [c["prompt"] for c in cases] == ["PD MRI of a 30-year-old woman", "PD MRI of a 64-year-old man"]
    assert all(c["attributes"]["modality"] == "PD" for c in cases)
    assert not (tmp_path / "raw").exists(), "a dry run writes nothing"
    code, _, err = run_cli(["batch", "-o", str(tmp_path / "raw"), "--dataset-id", "7", "--dataset-name", "P",
                            "--prompts", str(prompt_file), "--age", "20-30", "--bundle", str(tiny_bundle), "--dry-run"])
    assert code == 2 and "--age applies to --template" in err


def test_vocabulary_round_trip():
    assert lesion_phrase(0, 0, "FLAIR") == "no lesions"
    assert lesion_phrase(1, 8.4, "FLAIR") == "an 8 mm white-matter hyperintensity"
    assert lesion_phrase(1, 12, "T1") == "a 12 mm white-matter lesion"
    assert lesion_phrase(3, 12, "T2") == "multiple white-matter lesions"
    assert facts_from_prompt("FLAIR MRI of an 80-year-old woman") == {"modality": "FLAIR", "age": 80, "sex": "F"}
    assert facts_from_prompt("proton-density-weighted scan, male patient aged 33") == {"modality": "PD", "age": 33, "sex": "M"}
    assert facts_from_prompt("T1 and T2 of a person") == {}
