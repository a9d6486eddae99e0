"""The module's parameter node: every panel setting, typed and ranged, saved with the scene.

Widgets in ``Resources/UI/BrainGen3D.ui`` carry a ``SlicerParameterName`` property naming the field
they edit; ``connectGui`` binds them (see ``slicer.parameterNodeWrapper``).
"""

from __future__ import annotations

import pathlib
from typing import Annotated

from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

from .logic import GenerationSettings
from .prompt_builder import ANY_AGE, MAX_AGE, Lesions, Modality, QuickPicks, Sex, Ventricles, compose_prompt

SAMPLERS = ["dpm++", "ddim"]
DEVICES = ["auto", "cpu", "cuda"]
MAX_PANEL_SEED = 2**31 - 1  # the largest value a QSpinBox holds
MAX_VOLUMES = 16
DEFAULT_PICKS = QuickPicks()
DEFAULT_PROMPT = compose_prompt(DEFAULT_PICKS)


@parameterNodeWrapper
class BrainGen3DParameterNode:
    """Panel state.

    Attributes:
        prompt: the text prompt sent to the engine.
        negativePrompt: what the sample should not look like.
        modality, age, sex, ventricles, lesions: quick picks that compose ``prompt``.
        composedPrompt: the prompt text the quick picks last wrote; when ``prompt`` differs, the user
            has edited it and the quick picks no longer overwrite it.
        sampler, steps, guidanceScale, seed, numVolumes: sampling settings.
        device: ``auto``, ``cpu`` or ``cuda``.
        useDefaultBundle: use the engine's embedded default bundle; otherwise ``bundlePath``.
        bundlePath: a bundle folder (config.json, weights, README.md).
        showIn3D: show the result with volume rendering as well.
    """

    prompt: str = DEFAULT_PROMPT
    negativePrompt: str = ""
    modality: Modality = DEFAULT_PICKS.modality
    age: Annotated[int, WithinRange(ANY_AGE, MAX_AGE)] = DEFAULT_PICKS.age
    sex: Sex = DEFAULT_PICKS.sex
    ventricles: Ventricles = DEFAULT_PICKS.ventricles
    lesions: Lesions = DEFAULT_PICKS.lesions
    composedPrompt: str = DEFAULT_PROMPT
    sampler: Annotated[str, Choice(SAMPLERS)] = "dpm++"
    steps: Annotated[int, WithinRange(1, 1000)] = 25
    guidanceScale: Annotated[float, WithinRange(0.0, 30.0)] = 3.0
    seed: Annotated[int, WithinRange(0, MAX_PANEL_SEED)] = 42
    numVolumes: Annotated[int, WithinRange(1, MAX_VOLUMES)] = 1
    device: Annotated[str, Choice(DEVICES)] = "auto"
    useDefaultBundle: bool = True
    bundlePath: pathlib.Path = pathlib.Path()
    showIn3D: bool = False


def quick_picks(parameters: BrainGen3DParameterNode) -> QuickPicks:
    """The quick-pick fields of ``parameters``."""
    return QuickPicks(parameters.modality, parameters.age, parameters.sex, parameters.ventricles, parameters.lesions)


def generation_settings(parameters: BrainGen3DParameterNode) -> GenerationSettings:
    """The worker-facing settings for the current panel state (``bundle_path`` None = engine default)."""
    bundle = None if parameters.useDefaultBundle else str(parameters.bundlePath)  # "." when none is chosen
    return GenerationSettings(
        prompt=parameters.prompt,
        negative_prompt=parameters.negativePrompt,
        steps=parameters.steps,
        guidance_scale=parameters.guidanceScale,
        sampler=parameters.sampler,
        seed=parameters.seed,
        num_volumes=parameters.numVolumes,
        device=parameters.device,
        bundle_path=bundle,
        show_in_3d=parameters.showIn3D,
    )
