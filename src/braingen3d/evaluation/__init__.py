"""Evaluation of a bundle's generated volumes against a reference cohort (``braingen3d evaluate``).

* ``sources``, ``volumes``, ``masks``: finding and reading volumes onto the bundle grid, brain masks;
* ``prompts``, ``generation``: prompts from reference subjects, and generating with the bundle;
* ``splits``: the reference halves of every baseline;
* ``histograms``, ``radiomics_distance``, ``latent_distance``: distances between distributions;
* ``image_statistics``, ``simple_reader``, ``cnn_reader``, ``auc``: machine readers;
* ``similarity``: diversity and memorisation; ``background_detail``: background, sharpness and noise;
* ``montage``, ``report``: what is written; ``runner``: all of it in order;
* ``engine_adapter``: the only door to the rest of the engine; ``optional``: the ``evaluate`` extra.

See docs/evaluation.md.
"""

from .._lazy import lazy_attributes

_EXPORTS = {
    "EvaluationOptions": ".options",
    "CnnSettings": ".options",
    "evaluate": ".runner",
}
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)
__all__ = ["CnnSettings", "EvaluationOptions", "evaluate"]
