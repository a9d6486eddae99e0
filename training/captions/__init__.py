"""Captions from structure volumes, patient data and modality (the BrainLDM recipe in words)."""

from .builder import CaptionBuilder, CaptionFacts
from .measure import structure_volumes, template_tissue_masks, tissue_means, ventricle_volume_ml
from .norms import CohortNorms

__all__ = [
    "CaptionBuilder",
    "CaptionFacts",
    "CohortNorms",
    "structure_volumes",
    "template_tissue_masks",
    "tissue_means",
    "ventricle_volume_ml",
]
