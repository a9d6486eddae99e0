"""Bad settings and prompts are refused before any work, and no command writes a volume with non-finite voxels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from braingen3d.cli.main import main
from braingen3d.core.errors import InvalidInputError, NonFiniteOutputError
from braingen3d.core.volume import SyntheticVolume
from braingen3d.io import write_nifti, write_nrrd, write_volume
from braingen3d.prompts.parser import check_prompt, facts_from_prompt
from braingen3d.requests.export import ExportRequest
from braingen3d.requests.generation import MAX_SEED, GenerationRequest
from braingen3d.requests.inpaint import InpaintRequest

DEFAULTS = {"sampler": "dpm++", "steps": 4, "guidance_scale": 3.0}


@pytest.mark.parametrize("guidance", [math.inf, -math.inf, math.nan, 1e30, 100.5, -1.0])
def test_non_finite_or_absurd_guidance_is_refused(guidance):
    with pytest.raises(InvalidInputError, match="guidance must be a finite number from 0 to 100"):
        GenerationRequest("T1 MRI", guidance_scale=guidance).resolve(DEFAULTS)


def test_inpaint_request_refuses_infinite_guidance(tiny_bundle):
    from braingen3d.bundle import read_config

    with pytest.raises(InvalidInputError, match="guidance must be a finite number"):
        InpaintRequest("a 10 mm white-matter hyperintensity", guidance_scale=math.inf).resolve(read_config(tiny_bundle))


def test_structure_guidance_and_targets_must_be_finite():
    with pytest.raises(InvalidInputError, match="structure_guidance must be a finite number"):
        GenerationRequest("T1 MRI", structure_guidance=math.inf).resolve(DEFAULTS)
    with pytest.raises(InvalidInputError, match="ventricles_ml must be a finite number"):
        GenerationRequest("T1 MRI", structure_targets_ml={"ventricles_ml": math.nan}).resolve(DEFAULTS)


def test_python_api_refuses_infinite_guidance_before_sampling(tiny_pipeline, monkeypatch):
    import braingen3d.pipelines.generation as generation

    monkeypatch.setattr(generation, "denoise", lambda *a, **k: pytest.fail("sampling started"))
    with pytest.raises(InvalidInputError, match="guidance"):
        tiny_pipeline("T1 MRI", guidance_scale=float("inf"), num_inference_steps=2, seed=0)


def test_cli_refuses_infinite_guidance_and_writes_nothing(tiny_bundle, tmp_path, capsys):
    code = main(["-q", "generate", "T1 MRI", "-o", str(tmp_path / "b.nii.gz"), "--bundle", str(tiny_bundle),
                 "--guidance", "inf"])
    assert code == 2 and "guidance must be a finite number" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_generate_refuses_to_write_nan_voxels_from_a_diverged_sample(tiny_bundle, tmp_path, capsys, monkeypatch):
    """Sampling that diverges (injected: the decoder returns NaN) leaves no file, not an all-NaN volume."""
    from braingen3d.pipelines.generation import BrainGenPipeline

    def nan_decode(self, latents):
        return np.full(self.config.grid.shape, np.nan, dtype=np.float32)

    monkeypatch.setattr(BrainGenPipeline, "decode", nan_decode)
    code = main(["-q", "generate", "T1 MRI", "-o", str(tmp_path / "b.nii.gz"), "--bundle", str(tiny_bundle),
                 "--steps", "2", "--seed", "0", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code != 0 and "NaN or infinite" in err and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", ["volume", "nifti", "nrrd"])
def test_writers_refuse_non_finite_voxels(tmp_path, writer):
    array = np.zeros((4, 4, 4), dtype=np.float32)
    array[1, 2, 3] = np.inf
    with pytest.raises(NonFiniteOutputError, match="1 of 64 voxels"):
        if writer == "volume":
            write_volume(SyntheticVolume(array, np.eye(4), {"synthetic": True}), tmp_path / "v.nii.gz")
        elif writer == "nifti":
            write_nifti(tmp_path / "v.nii.gz", array, np.eye(4))
        else:
            write_nrrd(tmp_path / "v.nrrd", array, np.eye(4))
    assert list(tmp_path.iterdir()) == []


def test_seed_plus_n_minus_1_is_bounded():
    with pytest.raises(InvalidInputError, match="Volume 2 would use seed 9223372036854775808"):
        GenerationRequest("T1 MRI", seed=MAX_SEED, num_volumes=2).resolve(DEFAULTS)
    assert GenerationRequest("T1 MRI", seed=MAX_SEED - 1, num_volumes=2).resolve(DEFAULTS).seed == MAX_SEED - 1


@pytest.mark.parametrize("prompt, words", [
    ("T1 MRI of a 200-year-old man", "'200-year-old' is impossible"),
    ("T1 MRI of a -5-year-old man", "'-5-year-old' is impossible"),
    ("T1 MRI of a woman aged 130", "'aged 130' is impossible"),
    ("T1 MRI of a 40-year-old man aged 60", "two ages ('40-year-old', 'aged 60')"),
    ("T2-weighted MRI of a woman, male", "both sexes ('woman' and 'male')"),
    ("T1-weighted FLAIR MRI of a man", "2 modalities ('FLAIR' and 'T1')"),
    ("T2 MRI with enlarged ventricles and normal ventricles", "('enlarged ventricles' and 'normal ventricles')"),
])
def test_impossible_or_contradictory_prompts_are_refused_naming_the_words(prompt, words):
    with pytest.raises(InvalidInputError) as caught:
        GenerationRequest(prompt).resolve(DEFAULTS)
    assert words in str(caught.value)


@pytest.mark.parametrize("prompt", [
    "T2-weighted MRI of a 72-year-old woman with enlarged ventricles",
    "FLAIR MRI of an 80-year-old man, aged 80, with no lesions",
    "proton-density-weighted MRI of a 0-year-old person",
    "T1-weighted MRI of a 120-year-old man",
    "a 15 mm white-matter hyperintensity",
    "T2-FLAIR MRI of a 60-year-old woman",
    "T2w FLAIR of a man with a 9 mm white-matter hyperintensity",
])
def test_plausible_prompts_pass(prompt):
    check_prompt(prompt)


@pytest.mark.parametrize("prompt", ["T2-FLAIR MRI of a woman", "T2-weighted FLAIR of a man", "t2 flair brain"])
def test_t2_flair_is_read_as_flair(prompt):
    assert facts_from_prompt(prompt)["modality"] == "FLAIR"


@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_invalid_utf8_in_a_prompt_is_a_clear_error(field):
    text = b"T1 MRI \xff of a man".decode("utf-8", "surrogateescape")  # what Python makes of such argv bytes
    kwargs = {"prompt": "T1 MRI", field: text}
    with pytest.raises(InvalidInputError, match=r"not valid UTF-8 text: character 8 is an invalid byte 0xff"):
        GenerationRequest(**kwargs).resolve(DEFAULTS)


def test_cli_reports_invalid_utf8_without_a_traceback(tiny_bundle, tmp_path, capsys):
    prompt = b"T1 \xfe brain".decode("utf-8", "surrogateescape")
    code = main(["-q", "generate", prompt, "-o", str(tmp_path / "b.nii.gz"), "--bundle", str(tiny_bundle)])
    err = capsys.readouterr().err
    assert code == 2 and "not valid UTF-8" in err and "Traceback" not in err


def test_batch_prompt_file_with_a_contradiction_is_refused_naming_the_prompt():
    from braingen3d.batch import GenerationSettings, LesionRanges, plan_from_prompts

    settings = GenerationSettings("T1", "bundle-x", "1.0", steps=4, guidance_scale=3.0, sampler="dpm++")
    with pytest.raises(InvalidInputError, match="Prompt 2 .*two ages"):
        plan_from_prompts(["T1 MRI of a 40-year-old man", "T1 MRI of a 40-year-old man aged 70"], None, 0, settings,
                          LesionRanges.parse("0", "5-15", None))


@pytest.mark.parametrize("age", [500, -1, 121])
def test_export_refuses_an_impossible_patient_age(age, tmp_path):
    with pytest.raises(InvalidInputError, match="--patient-age must be a whole number of years from 0 to 120"):
        ExportRequest(tmp_path / "v.nii.gz", "dicom", tmp_path / "dicom", patient_age=age).validated()


def test_export_cli_refuses_patient_age_500_and_writes_nothing(tmp_path, capsys):
    source = tmp_path / "v.nii.gz"
    write_volume(SyntheticVolume(np.zeros((4, 4, 4), np.float32), np.eye(4), {"synthetic": True, "prompt": "T1"}),
                 source, preview=False)
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["-q", "export", str(source), "--to", "dicom", "-o", str(tmp_path / "dicom"), "--patient-age", "500"])
    assert code == 2 and "--patient-age" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
