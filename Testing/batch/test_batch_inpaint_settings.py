"""batch inpaints with the settings `braingen3d inpaint` resolves (the bundle's inpainting guidance and negative
prompt), not the generation's, and records them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from Testing.batch.batch_helpers import run_cli

INPAINT_DEFAULTS = {"guidance_scale": 7.5, "negative_prompt": "no lesions"}


@pytest.fixture
def inpaint_defaults_bundle(tiny_bundle, tmp_path) -> Path:
    """The tiny bundle with inpainting defaults that differ from its generation defaults (guidance 3, no negative)."""
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    config = json.loads((bundle / "config.json").read_text())
    config["sampling_defaults"]["inpaint"] = INPAINT_DEFAULTS
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def test_batch_inpaints_with_the_bundles_inpainting_settings_and_records_them(inpaint_defaults_bundle, tmp_path,
                                                                               monkeypatch):
    from braingen3d.bundle import read_config
    from braingen3d.pipelines.inpaint import LesionInpainter
    from braingen3d.requests.inpaint import InpaintRequest

    calls = []
    original = LesionInpainter.__call__

    def recording(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        calls.append(result.provenance)
        return result

    monkeypatch.setattr(LesionInpainter, "__call__", recording)
    root = tmp_path / "nnUNet_raw"
    code, _, err = run_cli(["-q", "batch", "-o", str(root), "--dataset-id", "502", "--dataset-name", "Inpaint",
                            "--modality", "FLAIR", "--n", "2", "--seed", "0", "--lesions", "1", "--lesion-size-mm",
                            "20-20", "--steps", "2", "--bundle", str(inpaint_defaults_bundle), "--device", "cpu"])
    assert code == 0, err
    assert calls, "no case was inpainted"
    # What `braingen3d inpaint` resolves for the same bundle with no --guidance and no --negative-prompt.
    cli = InpaintRequest("a lesion", steps=2, seed=0).resolve(read_config(inpaint_defaults_bundle))
    assert (cli.guidance_scale, cli.negative_prompt) == (7.5, "no lesions")
    for provenance in calls:
        assert (provenance["guidance_scale"], provenance["negative_prompt"]) == (cli.guidance_scale, cli.negative_prompt)
    records = [json.loads(p.read_text()) for p in sorted((root / "Dataset502_Inpaint" / "provenance").glob("*.json"))]
    inpainted = [r for r in records if r["inpaint"]]
    assert len(inpainted) == len(calls)
    for record in inpainted:
        assert record["inpaint"]["guidance_scale"] == 7.5 and record["inpaint"]["negative_prompt"] == "no lesions"
        assert record["batch"]["settings"]["inpaint_guidance_scale"] == 7.5
        assert record["batch"]["settings"]["inpaint_negative_prompt"] == "no lesions"
        assert record["guidance_scale"] == 3.0  # generation keeps its own guidance
