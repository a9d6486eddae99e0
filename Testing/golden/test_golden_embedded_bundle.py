"""The embedded default bundle still makes the same volumes: summary statistics against a stored golden file.

A new diffusers, MONAI, torch or transformers release, a changed sampler or a changed bundle weight moves
these statistics; the comparison tolerance (``golden_summary.ATOL``) is far below that and far above the
run-to-run and thread-count variation (Testing/README.md, "Golden test").
"""

from __future__ import annotations

import pytest

from Testing.golden import golden_summary as golden

GOLDEN = golden.read_golden()
# MONAI DiffusionModelUNet's input convolution: it sees every latent voxel at every step, so one of its elements
# changed by 1e-3 moves the statistics by about 4x the tolerance (a single element deep in the network moves
# them by less than the thread-count variation: no summary-statistic test can see that).
PERTURBED_UNET_WEIGHT = "conv_in.conv.weight"


@pytest.fixture(scope="module")
def pipeline():
    with golden.golden_environment():
        yield golden.load_pipeline()


@pytest.fixture
def fp32_embedded():
    with golden.golden_environment():
        yield


def failure_message(modality: str, problems: list[str]) -> str:
    recorded = GOLDEN["environment"]
    current = golden.environment()
    versions = ", ".join(f"{name} {recorded.get(name)} -> {current[name]}" for name in current
                         if recorded.get(name) != current[name]) or "the same package versions"
    return (
        f"The embedded bundle's {modality} volume differs from {golden.GOLDEN_PATH.name} "
        f"(tolerance {golden.ATOL:g}; {versions}):\n  " + "\n  ".join(problems) + "\n"
        "If this change to the voxels is intended (new bundle weights, a sampler change, a dependency version "
        f"bump together with constraints.txt), regenerate the golden file with `{golden.REGENERATE_COMMAND}` "
        "and commit it with the change."
    )


def test_golden_file_covers_every_modality_with_the_fixed_request() -> None:
    assert set(GOLDEN["volumes"]) == set(golden.PROMPTS) == {"T1", "T2", "FLAIR", "PD"}
    request = GOLDEN["request"]
    assert request["prompts"] == golden.PROMPTS and request["seed"] == golden.SEED
    assert request["steps"] == golden.STEPS and request["precision"] == "fp32"


# T2 (the README's prompt) runs in the fast tier; the other modalities and the checks of the check are slow.
@pytest.mark.parametrize("modality", [modality if modality == "T2" else pytest.param(modality, marks=pytest.mark.slow)
                                      for modality in golden.PROMPTS])
def test_embedded_bundle_matches_its_golden_summary(pipeline, fp32_embedded, modality: str) -> None:
    volume = golden.generate(pipeline, modality)
    assert volume.provenance["precision"] == "fp32"
    assert volume.provenance["bundle_id"] == GOLDEN["request"]["bundle_id"]
    assert volume.provenance["bundle_version"] == GOLDEN["request"]["bundle_version"]
    problems = golden.compare(GOLDEN["volumes"][modality], golden.summarise(volume.array))
    assert not problems, failure_message(modality, problems)


# The comparison must catch the changes it exists for: a diffusers sampler that behaves differently and a
# single bundle weight changed by 1e-3. Both are undone after each test.

@pytest.mark.slow
def test_golden_comparison_catches_a_changed_sampler_option(pipeline, fp32_embedded, monkeypatch) -> None:
    import diffusers

    original = diffusers.DPMSolverMultistepScheduler

    class FirstOrderSolver(original):
        """DPM-Solver++ as configured by the engine, but first order: what a changed diffusers default would do."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **{**kwargs, "solver_order": 1})

    monkeypatch.setattr(diffusers, "DPMSolverMultistepScheduler", FirstOrderSolver)
    volume = golden.generate(pipeline, "T2")
    assert volume.provenance["sampler"] == "dpm++"
    assert golden.compare(GOLDEN["volumes"]["T2"], golden.summarise(volume.array))


@pytest.mark.slow
def test_golden_comparison_catches_one_unet_weight_changed_by_1e_3(pipeline, fp32_embedded) -> None:
    import torch

    weight = dict(pipeline.bundle.unet.named_parameters())[PERTURBED_UNET_WEIGHT]
    original = weight.detach().clone()
    try:
        with torch.no_grad():
            weight.view(-1)[0] += 1e-3
        volume = golden.generate(pipeline, "T2")
    finally:
        with torch.no_grad():
            weight.copy_(original)
    assert golden.compare(GOLDEN["volumes"]["T2"], golden.summarise(volume.array))
