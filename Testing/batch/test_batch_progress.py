"""Progress accounting of a batch case when the inpainting contrast check retries."""

from __future__ import annotations

import pytest

from braingen3d.batch import GenerationSettings, LesionRanges, plan_from_template
from braingen3d.batch.runner import BatchRunner
from braingen3d.batch.sharding import Shard
from braingen3d.pipelines.inpaint.contrast_check import SurroundingTissue

pytestmark = pytest.mark.slow


def test_a_retried_inpainting_adds_its_units_to_the_case(tiny_pipeline, monkeypatch):
    config = tiny_pipeline.config
    settings = GenerationSettings("FLAIR", config.bundle_id, config.version, steps=2, guidance_scale=3.0, sampler="ddim")
    plan = plan_from_template("{modality} MRI of a {age}-year-old {sex} with {lesions}", 1, 0, settings,
                              LesionRanges.parse("1-1", "10-10", "a {size} mm white-matter hyperintensity"),
                              age="40-40", sex="both", ventricles="normal")
    case = plan.cases[0]
    ratios = [0.9, 1.3]  # the first sample misses the contrast, the second passes
    monkeypatch.setattr(SurroundingTissue, "ratio", lambda self, inpainted: ratios.pop(0))
    runner = BatchRunner(plan, tiny_pipeline)
    phases, extra = [], []
    runner.make_case(case, "Dataset001_X", Shard(), on_unit=phases.append, on_retry=extra.append)
    assert len(phases) == runner.units(case) + sum(extra)
    assert len(extra) == 1 and extra[0] == runner.units(case) - (settings.steps + 1)  # one more inpainting sample
    assert "inpaint, attempt 2" in phases and not ratios
