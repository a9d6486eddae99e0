"""Synthesis of one subject: warp the template, atrophy it, add lesions, label and render it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .anatomy import LABELS, label_map
from .deform import VentricleFlow, random_displacement, similarity_inverse, subject_coordinates, thin_cortex, warp
from .lesions import LesionSpec, place_lesions
from .population import SubjectAttributes
from .render import TISSUE_CONTRAST, TissueFractions, finish, render_clean
from .templates import TemplateSet


@dataclass
class SubjectVolumes:
    """The volumes of one synthetic subject on the template grid.

    Attributes:
        images: modality -> float32 image normalised to [0, 1], background exactly 0.
        labels: uint8 tissue labels (``anatomy.LABELS``).
        lesion_mask: uint8 binary white-matter lesion mask.
        brain: boolean brain mask.
        fractions: the partial-volume tissue fractions the images were rendered from.
        lesions: the lesions that were placed.
    """

    images: dict[str, np.ndarray]
    labels: np.ndarray
    lesion_mask: np.ndarray
    brain: np.ndarray
    fractions: TissueFractions
    lesions: list[LesionSpec] = field(default_factory=list)


def synthesize_subject(
    templates: TemplateSet,
    flow: VentricleFlow,
    attributes: SubjectAttributes,
    rng: np.random.Generator,
    modalities: list[str] | tuple[str, ...],
    noise_fraction: float = 0.01,
) -> SubjectVolumes:
    """Derive one subject from the templates according to ``attributes``.

    Args:
        templates: template maps on the target grid.
        flow: calibrated ventricle-enlargement flow for that grid.
        attributes: what to generate (age effects are already folded into these numbers).
        rng: the subject's random generator (consumed in a fixed order, so output is reproducible).
        modalities: modalities to render; all share the same anatomy.
        noise_fraction: Rician noise sigma relative to the white-matter signal.

    Returns:
        The subject's images, labels and lesion mask.
    """
    grid = templates.grid
    field_grid = flow.field_grid
    random_warp = random_displacement(rng, field_grid, attributes.warp_sd_mm)
    ventricle_push = flow.displacement(flow.amplitude_for_ratio(attributes.ventricle_ratio))
    similarity = similarity_inverse(attributes.scale, np.asarray(attributes.rotation_deg), np.asarray(attributes.translation_mm))
    coordinates = subject_coordinates(grid, field_grid, similarity, random_warp, ventricle_push)

    brain_fraction = np.clip(warp(templates.brain, coordinates), 0.0, 1.0)
    warped = TissueFractions(
        csf=np.clip(warp(templates.csf, coordinates), 0.0, 1.0),
        ventricles=np.clip(warp(templates.ventricles, coordinates), 0.0, 1.0),
        gm=np.clip(warp(templates.gm, coordinates), 0.0, 1.0),
        wm=np.clip(warp(templates.wm, coordinates), 0.0, 1.0),
        lesion=np.zeros(grid.shape, np.float32),
        brain=brain_fraction,
    )
    template_t1 = warp(templates.t1, coordinates)
    brain = brain_fraction > 0.5

    gm, csf, _ = thin_cortex(warped.gm, warped.csf, brain_fraction, attributes.cortical_thinning, float(min(grid.spacing)))
    lesion, specs = place_lesions(rng, attributes.lesion_count, warped.wm, warped.ventricles, grid)
    fractions = TissueFractions(csf=csf, ventricles=warped.ventricles, gm=gm, wm=warped.wm - lesion, lesion=lesion, brain=brain_fraction)

    labels = label_map(fractions.csf, fractions.gm, fractions.wm, fractions.ventricles, fractions.lesion, brain)
    images = {}
    for modality in modalities:
        jitter = attributes.contrast_jitter.get(modality, {})
        clean = render_clean(modality, fractions, template_t1, warped, templates.t1_tissue_means, jitter)
        wm_signal = templates.t1_tissue_means["wm"] if modality == "T1" else TISSUE_CONTRAST[modality]["wm"] * jitter.get("wm", 1.0)
        images[modality] = finish(clean, brain, wm_signal, rng, grid, noise_fraction=noise_fraction)
    return SubjectVolumes(
        images=images,
        labels=labels,
        lesion_mask=(labels == LABELS["lesion"]).astype(np.uint8),
        brain=brain,
        fractions=fractions,
        lesions=specs,
    )
