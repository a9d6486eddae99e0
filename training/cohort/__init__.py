"""Template-derived synthetic cohort: subjects derived from the MNI152 2009 templates.

This is a demonstration population (deformed, atrophied and lesioned copies of one template
brain with rendered MRI contrasts), not a model of real patients.
"""

from .population import SubjectAttributes, sample_attributes
from .subject import SubjectVolumes, synthesize_subject
from .templates import TemplateSet, load_templates

__all__ = [
    "SubjectAttributes",
    "SubjectVolumes",
    "TemplateSet",
    "load_templates",
    "sample_attributes",
    "synthesize_subject",
]
