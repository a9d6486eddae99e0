"""A bundle may give lesion inpainting its own guidance and negative prompt (``sampling_defaults.inpaint``)."""

from __future__ import annotations

import pytest

from braingen3d.bundle import preset_config
from braingen3d.bundle.config import BundleConfig
from braingen3d.core.errors import BundleError
from braingen3d.requests.inpaint import InpaintRequest

PROMPT = "a 10 mm white-matter hyperintensity"


def _config(inpaint: dict | None) -> BundleConfig:
    config = preset_config("tiny", capabilities={"text": True, "inpaint": ["repaint"], "controlnet": False})
    if inpaint is not None:
        config.sampling_defaults["inpaint"] = inpaint
    return BundleConfig.from_dict(config.to_dict())  # through the JSON form, as a bundle is read


def test_without_the_field_inpainting_uses_the_generation_defaults() -> None:
    config = _config(None)
    generation = InpaintRequest(PROMPT).resolve(config).generation
    assert generation.guidance_scale == config.sampling_defaults["guidance_scale"] and generation.negative_prompt == ""
    assert config.inpaint_defaults() == {**config.sampling_defaults, "negative_prompt": ""}


def test_the_field_sets_inpainting_defaults_and_the_caller_still_decides() -> None:
    config = _config({"guidance_scale": 20.0, "negative_prompt": "no lesions"})
    generation = InpaintRequest(PROMPT).resolve(config).generation
    assert (generation.guidance_scale, generation.negative_prompt) == (20.0, "no lesions")
    assert generation.steps == config.sampling_defaults["steps"] and generation.sampler == config.sampling_defaults["sampler"]
    chosen = InpaintRequest(PROMPT, negative_prompt="", guidance_scale=2.0).resolve(config).generation
    assert (chosen.guidance_scale, chosen.negative_prompt) == (2.0, "")  # "" is the empty prompt, not the default
    assert config.sampling_defaults["guidance_scale"] != 20.0  # generation keeps its own


@pytest.mark.parametrize("field, message", [
    ({"steps": 50}, "may hold only"),
    ({"guidance_scale": -1.0}, "guidance_scale"),
    ({"guidance_scale": True}, "guidance_scale"),
    ({"negative_prompt": 3}, "negative_prompt"),
    ("no lesions", "may hold only"),
])
def test_bad_fields_are_refused_by_name(field, message) -> None:
    with pytest.raises(BundleError, match=message):
        _config(field)
