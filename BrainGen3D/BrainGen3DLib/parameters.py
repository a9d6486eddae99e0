"""The module's parameter node: every panel setting, typed and ranged, saved with the scene.

Widgets in ``Resources/UI/BrainGen3D.ui`` carry a ``SlicerParameterName`` property naming the field
they edit; ``connectGui`` binds them (see ``slicer.parameterNodeWrapper``).
"""

from __future__ import annotations

import enum
import pathlib
from typing import Annotated

import slicer
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

from .export_logic import MODALITIES as EXPORT_MODALITIES
from .export_logic import ExportSettings
from .i18n import _
from .lesion_logic import DEFAULT_ATTEMPTS, LESION_PROMPT_PRESETS, MAX_ATTEMPTS, MAX_BLEND_MARGIN_MM, InpaintSettings
from .lesion_logic import METHODS as INPAINT_METHODS
from .logic import DEVICES as PANEL_DEVICES
from .logic import SAMPLERS as PANEL_SAMPLERS
from .logic import GenerationSettings
from .prompt_builder import (
    ANY_AGE,
    MAX_AGE,
    Lesions,
    Modality,
    QuickPicks,
    Sex,
    Ventricles,
    VocabularyMissingError,
    compose_prompt,
)

SAMPLERS = list(PANEL_SAMPLERS)
DEVICES = list(PANEL_DEVICES)
MAX_PANEL_SEED = 2**31 - 1  # the largest value a QSpinBox holds
MAX_VOLUMES = 16
BUNDLE_DEFAULT_WEIGHT = -1.0  # the structure-guidance spin box's "Bundle default" (its minimum)
DEFAULT_PICKS = QuickPicks()


def _default_prompt() -> str:
    """The quick picks' prompt, or "" before the engine (and its caption vocabulary) is installed."""
    try:
        return compose_prompt(DEFAULT_PICKS)
    except VocabularyMissingError:
        return ""


DEFAULT_PROMPT = _default_prompt()


class LesionRegionKind(enum.Enum):
    """Where the lesion region comes from."""

    ROI = "roi"
    SEGMENT = "segment"

    def label(self) -> str:
        return {LesionRegionKind.ROI: _("ROI box"), LesionRegionKind.SEGMENT: _("Painted segment")}[self]


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
        structureGuidance: weight of the structure guidance that steers the ventricle volume to the prompt
            (bundles that have it): ``BUNDLE_DEFAULT_WEIGHT`` (-1) for the bundle's own, 0 for off.
        lesionVolume: the volume to put a lesion in (generated or any scalar volume).
        lesionRegionKind, lesionROI, lesionSegmentation: where the lesion goes (the segment is the one
            selected in the embedded segment editor).
        lesionPrompt: the lesion to paint; lesionSteps, lesionSeed, lesionMethod, lesionBlendMargin,
            lesionAttempts: its settings (sampler, device and bundle are the panel's; guidance the bundle's).
        exportVolume, exportSegmentation: what to export; exportNifti, exportNrrd, exportDicom: the formats;
        exportModality: the DICOM contrast (auto: from the provenance); exportFolder: where;
        exportOverwrite: replace existing files.
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
    structureGuidance: Annotated[float, WithinRange(BUNDLE_DEFAULT_WEIGHT, 20.0)] = BUNDLE_DEFAULT_WEIGHT
    lesionVolume: slicer.vtkMRMLScalarVolumeNode
    lesionRegionKind: LesionRegionKind = LesionRegionKind.ROI
    lesionROI: slicer.vtkMRMLMarkupsROINode
    lesionSegmentation: slicer.vtkMRMLSegmentationNode
    lesionPrompt: str = LESION_PROMPT_PRESETS[0]
    lesionSteps: Annotated[int, WithinRange(1, 1000)] = 25
    lesionSeed: Annotated[int, WithinRange(0, MAX_PANEL_SEED)] = 7
    lesionMethod: Annotated[str, Choice(list(INPAINT_METHODS))] = "auto"
    lesionBlendMargin: Annotated[float, WithinRange(0.0, MAX_BLEND_MARGIN_MM)] = 2.0
    lesionAttempts: Annotated[int, WithinRange(1, MAX_ATTEMPTS)] = DEFAULT_ATTEMPTS
    exportVolume: slicer.vtkMRMLScalarVolumeNode
    exportSegmentation: slicer.vtkMRMLSegmentationNode
    exportNifti: bool = True
    exportNrrd: bool = False
    exportDicom: bool = False
    exportModality: Annotated[str, Choice(list(EXPORT_MODALITIES))] = "auto"
    exportFolder: pathlib.Path = pathlib.Path()
    exportOverwrite: bool = False


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
        structure_guidance=None if parameters.structureGuidance < 0 else parameters.structureGuidance,
    )


def inpaint_settings(parameters: BrainGen3DParameterNode) -> InpaintSettings:
    """The lesion section's settings; sampler, device and bundle are shared with generation. Guidance is the
    bundle's inpainting default: a bundle may inpaint at another guidance than it generates at (the default
    bundle: 20 away from "no lesions"), so the generation guidance does not carry over."""
    shared = generation_settings(parameters)
    return InpaintSettings(
        prompt=parameters.lesionPrompt,
        steps=parameters.lesionSteps,
        sampler=shared.sampler,
        seed=parameters.lesionSeed,
        device=shared.device,
        bundle_path=shared.bundle_path,
        method=parameters.lesionMethod,
        blend_margin_mm=parameters.lesionBlendMargin,
        attempts=parameters.lesionAttempts,
    )


def export_settings(parameters: BrainGen3DParameterNode) -> ExportSettings:
    """The export section's settings."""
    formats = [name for name, ticked in (("nifti", parameters.exportNifti), ("nrrd", parameters.exportNrrd),
                                         ("dicom", parameters.exportDicom)) if ticked]
    return ExportSettings(folder=str(parameters.exportFolder), formats=formats, modality=parameters.exportModality,
                          overwrite=parameters.exportOverwrite)
