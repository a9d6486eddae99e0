"""Structure guidance: prompt → target volumes, the guided prediction's direction, and the pipeline wiring."""

from __future__ import annotations

import copy

import pytest
import torch

from braingen3d.core.errors import BundleError, InvalidInputError
from braingen3d.models.structure_regressor import NoisyLatentVolumeRegressor
from braingen3d.sampling.structure_guidance import (
    StructureGuidance,
    expected_volume,
    smooth,
    targets_from_prompt,
    ventricle_finding,
)

NORM = {"coefficients": [22.0, 4.0, 0.5, -1.0, 2.0], "sd": 5.0, "mean": 33.0, "pooled_sd": 15.0, "n": 240,
        "icv_by_sex": {"all": 1850.0, "M": 2050.0, "F": 1680.0}}
GUIDANCE = {"structures": ["ventricles_ml"], "output_mean": [33.0], "output_std": [15.0],
            "regressor": {"channels": [8, 8]}, "norms": {"ventricles_ml": NORM}, "guidance_scale": 2.0,
            "likelihood_sd": 0.1, "enlarged_z": 2.0, "smoothing_voxels": 0.0, "max_guided_timestep": 900}


def test_expected_volume_follows_the_norm_model() -> None:
    a, v = (75 - 55) / 10, (1680 - 1500) / 100
    assert expected_volume(NORM, 75, "F") == pytest.approx(22 + 4 * a + 0.5 * a * a + 2 * v)
    assert expected_volume(NORM, None, "F") == 33.0
    assert expected_volume(NORM, 75, "M") > expected_volume(NORM, 75, "F")  # larger male ICV


def test_training_norms_use_the_engine_formula() -> None:
    from training.captions.norms import StructureNorm

    norm = StructureNorm(**NORM)
    for age, sex in ((30, "F"), (80, "M"), (55, None), (None, "M")):
        assert norm.expected(age, sex) == pytest.approx(expected_volume(NORM, age, sex))


@pytest.mark.parametrize("prompt, finding", [
    ("T2-weighted MRI of a 72-year-old woman with enlarged ventricles", "enlarged"),
    ("FLAIR brain MRI, dilated lateral ventricles", "enlarged"),
    ("T1 MRI with ventriculomegaly", "enlarged"),
    ("Brain MRI, T1, male, 45 years, normal ventricles, no lesions", "normal"),
    ("T1-weighted MRI of a 40-year-old man", None),
])
def test_ventricle_finding_reads_the_caption_wording(prompt: str, finding: str | None) -> None:
    assert ventricle_finding(prompt) == finding


def test_contradictory_ventricle_wording_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="both enlarged and normal"):
        ventricle_finding("enlarged ventricles and normal ventricles")


def test_targets_follow_age_sex_and_the_ventricle_words() -> None:
    young = targets_from_prompt("T1-weighted MRI of a 25-year-old woman", GUIDANCE)["ventricles_ml"]
    old = targets_from_prompt("T1-weighted MRI of an 85-year-old woman", GUIDANCE)["ventricles_ml"]
    normal = targets_from_prompt("T1-weighted MRI of an 85-year-old woman with normal ventricles", GUIDANCE)["ventricles_ml"]
    enlarged = targets_from_prompt("T1-weighted MRI of an 85-year-old woman with enlarged ventricles", GUIDANCE)["ventricles_ml"]
    assert young < old
    assert normal == pytest.approx(expected_volume(NORM, 85, "F"))
    assert enlarged == pytest.approx(normal + 2.0 * NORM["sd"])
    assert targets_from_prompt("a T1-weighted brain", GUIDANCE) == {}
    assert targets_from_prompt("brain MRI with enlarged ventricles", GUIDANCE)["ventricles_ml"] == pytest.approx(33 + 10)


def test_smoothing_keeps_the_mean_and_removes_a_checkerboard() -> None:
    index = torch.stack(torch.meshgrid(*(torch.arange(8),) * 3, indexing="ij")).sum(0)
    checker = ((index % 2) * 2 - 1).float()[None, None].repeat(1, 2, 1, 1, 1)
    smoothed = smooth(checker, 1.5)
    assert smoothed[..., 2:-2, 2:-2, 2:-2].abs().max() < 0.05 * checker.abs().max()
    blob = torch.zeros(1, 1, 12, 12, 12)
    blob[0, 0, 6, 6, 6] = 1.0
    assert float(smooth(blob, 1.0).sum()) == pytest.approx(1.0, abs=1e-5)


class _MeanOfChannelZero(torch.nn.Module):
    """A regressor whose (standardised) output is the mean of latent channel 0."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x[:, :1].mean(dim=(1, 2, 3, 4))[:, None]


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_guided_prediction_moves_the_clean_estimate_towards_the_target(prediction_type: str) -> None:
    alphas = torch.linspace(0.99, 0.05, 1000)
    t = 500
    alpha, sigma = alphas[t].sqrt(), (1 - alphas[t]).sqrt()
    x_t = torch.randn(1, 2, 6, 6, 6, generator=torch.Generator().manual_seed(0))
    prediction = torch.randn(1, 2, 6, 6, 6, generator=torch.Generator().manual_seed(1))
    guidance = StructureGuidance(_MeanOfChannelZero(), GUIDANCE, {"ventricles_ml": 33.0 + 15.0 * 3.0}, scale=1.0)
    corrected = guidance.correct(prediction, x_t, torch.tensor(t), alphas, prediction_type)

    def clean(p: torch.Tensor) -> torch.Tensor:
        return (x_t - sigma * p) / alpha if prediction_type == "epsilon" else alpha * x_t - sigma * p

    before, after = clean(prediction)[:, 0].mean(), clean(corrected)[:, 0].mean()
    assert after > before + 0.1  # target above: the clean estimate of channel 0 rises
    assert torch.allclose(clean(corrected)[:, 1], clean(prediction)[:, 1])  # channel 1 does not enter the regressor


def test_guidance_is_inactive_above_its_timestep_or_at_scale_zero() -> None:
    alphas = torch.linspace(0.99, 0.05, 1000)
    x_t, prediction = torch.randn(1, 2, 4, 4, 4), torch.randn(1, 2, 4, 4, 4)
    on = StructureGuidance(_MeanOfChannelZero(), GUIDANCE, {"ventricles_ml": 60.0}, scale=1.0)
    assert torch.equal(on.correct(prediction, x_t, torch.tensor(950), alphas, "epsilon"), prediction)
    assert not torch.equal(on.correct(prediction, x_t, torch.tensor(100), alphas, "epsilon"), prediction)
    late = StructureGuidance(_MeanOfChannelZero(), {**GUIDANCE, "min_guided_timestep": 200}, {"ventricles_ml": 60.0}, 1.0)
    assert torch.equal(late.correct(prediction, x_t, torch.tensor(100), alphas, "epsilon"), prediction)
    assert not StructureGuidance(_MeanOfChannelZero(), GUIDANCE, {"ventricles_ml": 60.0}, scale=0.0).active
    with pytest.raises(InvalidInputError, match="not guided"):
        StructureGuidance(_MeanOfChannelZero(), GUIDANCE, {"brain_ml": 1200.0}, scale=1.0)


def test_regressor_reads_time_and_space() -> None:
    regressor = NoisyLatentVolumeRegressor(4, (8, 16), num_outputs=2)
    x = torch.randn(3, 4, 8, 8, 8)
    out = regressor(x, torch.tensor([0, 500, 999]))
    assert out.shape == (3, 2)
    assert not torch.allclose(regressor(x, torch.tensor(0)), regressor(x, torch.tensor(999)))


@pytest.fixture(scope="module")
def guided_pipeline(tmp_path_factory: pytest.TempPathFactory):
    """The tiny random bundle with a random structure regressor attached."""
    from braingen3d.bundle import load_bundle
    from braingen3d.bundle.bundle import STRUCTURE_REGRESSOR_FILE
    from braingen3d.bundle.random_bundle import make_random_bundle
    from braingen3d.bundle.weights import save_weights
    from braingen3d.pipelines.generation import BrainGenPipeline

    path = make_random_bundle(tmp_path_factory.mktemp("sg") / "bundle")
    bundle = load_bundle(path)
    regressor = NoisyLatentVolumeRegressor(bundle.config.latent_shape[0], (8, 8), 1)
    save_weights(regressor.state_dict(), path / STRUCTURE_REGRESSOR_FILE)
    config = copy.deepcopy(bundle.config)
    config.structure_guidance = {**GUIDANCE, "smoothing_voxels": 1.0}
    config.capabilities["structure_guidance"] = True
    (path / "config.json").write_text(__import__("json").dumps(config.to_dict()), encoding="utf-8")
    return BrainGenPipeline.from_bundle(path, "cpu")


def test_pipeline_applies_and_records_structure_guidance(guided_pipeline) -> None:
    prompt = "T1-weighted MRI of a 70-year-old woman with enlarged ventricles"
    guided = guided_pipeline(prompt, num_inference_steps=4, seed=3)
    plain = guided_pipeline(prompt, num_inference_steps=4, seed=3, structure_guidance=0)
    provenance = guided.volumes[0].provenance
    assert provenance["structure_guidance"] == 2.0
    assert provenance["structure_targets_ml"]["ventricles_ml"] == pytest.approx(
        expected_volume(NORM, 70, "F") + 2 * NORM["sd"])
    assert "structure_guidance" not in plain.volumes[0].provenance
    assert not (guided.volumes[0].array == plain.volumes[0].array).all()
    explicit = guided_pipeline(prompt, num_inference_steps=2, seed=3, structure_targets_ml={"ventricles_ml": 50.0})
    assert explicit.volumes[0].provenance["structure_targets_ml"] == {"ventricles_ml": 50.0}


def test_pipeline_refuses_bad_structure_requests(guided_pipeline) -> None:
    with pytest.raises(InvalidInputError, match="plausible volume"):
        guided_pipeline("T1 MRI", num_inference_steps=2, seed=0, structure_targets_ml={"ventricles_ml": -5})
    with pytest.raises(InvalidInputError, match=">= 0"):
        guided_pipeline("T1 MRI of a 40-year-old man", num_inference_steps=2, seed=0, structure_guidance=-1)


def test_explicit_targets_without_a_guidance_weight_are_refused(guided_pipeline, monkeypatch) -> None:
    with pytest.raises(InvalidInputError, match="it was set to 0.*--structure-guidance 3"):
        guided_pipeline("T1 MRI", num_inference_steps=2, seed=0, structure_guidance=0,
                        structure_targets_ml={"ventricles_ml": 40.0})
    # A bundle that ships guidance off (weight 0 by default) needs the weight given with the targets.
    monkeypatch.setitem(guided_pipeline.config.structure_guidance, "guidance_scale", 0.0)
    with pytest.raises(InvalidInputError, match="ships it off by default"):
        guided_pipeline("T1 MRI", num_inference_steps=2, seed=0, structure_targets_ml={"ventricles_ml": 40.0})
    explicit = guided_pipeline("T1 MRI", num_inference_steps=2, seed=0, structure_guidance=3,
                               structure_targets_ml={"ventricles_ml": 40.0})
    assert explicit.volumes[0].provenance["structure_targets_ml"] == {"ventricles_ml": 40.0}


def test_bundle_without_guidance_refuses_explicit_targets(tiny_pipeline) -> None:
    with pytest.raises(BundleError, match="no structure guidance"):
        tiny_pipeline("T1 MRI", num_inference_steps=2, seed=0, structure_targets_ml={"ventricles_ml": 40.0})


def test_config_declaring_guidance_without_its_field_is_refused() -> None:
    from braingen3d.bundle import preset_config

    config = preset_config("tiny")
    config.capabilities["structure_guidance"] = True
    with pytest.raises(BundleError, match="no 'structure_guidance' field"):
        config.check_consistency()
    config.structure_guidance = {k: v for k, v in GUIDANCE.items() if k != "norms"}
    with pytest.raises(BundleError, match="missing \\['norms'\\]"):
        config.check_consistency()
