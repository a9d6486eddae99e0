"""Both methods on tiny random bundles: they run, are seed-deterministic, report progress, cancel and record provenance."""

from __future__ import annotations

import numpy as np
import pytest

from braingen3d.core.errors import CancelledError
from braingen3d.core.progress import CancelToken
from braingen3d.pipelines.inpaint import Resampling
from Testing.inpaint.inpaint_phantoms import make_case

PROMPT = "multiple small periventricular lesions"


def run(inpainter, case, **kwargs):
    arguments = {"num_inference_steps": 2, "seed": 9, "blend_margin_mm": 4.0, **kwargs}
    return inpainter(case.volume, case.affine, case.mask, PROMPT, **arguments)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["repaint", "inpaint_unet"])
def test_both_methods_regenerate_the_mask_deterministically_under_a_seed(unet_inpainter, method):
    case = make_case("oblique")
    first = run(unet_inpainter, case, method=method)
    again = run(unet_inpainter, case, method=method)
    other = run(unet_inpainter, case, method=method, seed=10)
    assert first.provenance["method"] == method
    assert np.array_equal(first.array, again.array)
    assert not np.array_equal(first.array, other.array)
    lesion = case.mask.astype(bool)
    assert np.count_nonzero(first.array[lesion] != case.volume[lesion]) >= 0.9 * lesion.sum()


def test_methods_and_samplers_give_different_results(unet_inpainter):
    case = make_case()
    repainted = run(unet_inpainter, case, method="repaint").array
    assert not np.array_equal(repainted, run(unet_inpainter, case, method="inpaint_unet").array)
    assert not np.array_equal(repainted, run(unet_inpainter, case, method="repaint", sampler="ddim").array)
    plain = run(unet_inpainter, case, method="repaint", resampling=Resampling(rounds=0)).array
    assert not np.array_equal(repainted, plain)  # resampling changes the trajectory


def test_auto_uses_the_inpainting_unet_and_progress_counts_every_evaluation(unet_inpainter, inpainter):
    case = make_case()
    events = []
    result = run(unet_inpainter, case, method="auto", callback=events.append)
    assert result.provenance["method"] == "inpaint_unet"
    assert [e.phase for e in events] == ["denoise"] * 2 + ["decode"]
    events.clear()
    result = run(inpainter, case, method="auto", callback=events.append, resampling=Resampling(rounds=2, jump_length=1))
    evaluations = Resampling.model_evaluations(Resampling(rounds=2, jump_length=1).path(2))
    assert result.provenance["method"] == "repaint"
    assert [e.step for e in events if e.phase == "denoise"] == list(range(1, evaluations + 1))
    assert events[-1].phase == "decode" and events[-1].eta_seconds == 0


def test_cancel_stops_before_anything_is_returned(inpainter):
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        run(inpainter, make_case(), cancel=token)


def test_provenance_says_what_was_synthesised_and_how(inpainter):
    case = make_case("lps")
    result = run(inpainter, case, negative_prompt="noise", guidance_scale=2.0, sampler="euler")
    p = result.provenance
    assert p["synthetic"] is True and p["task"] == "inpaint" and p["role"] == "volume"
    assert (p["prompt"], p["negative_prompt"], p["seed"], p["steps"], p["guidance_scale"], p["sampler"]) == \
        (PROMPT, "noise", 9, 2, 2.0, "euler")
    assert p["method"] == "repaint" and p["blend_margin_mm"] == 4.0
    assert p["resampling"] == {"rounds": 2, "jump_length": 1, "stop_fraction": 0.8}
    assert p["bundle_id"] == "random-tiny" and p["bundle_version"] == "0.0.0"
    voxel_ml = 5 * 4 * 6 / 1000
    assert p["mask_voxels"] == int(case.mask.sum()) and p["mask_volume_ml"] == pytest.approx(case.mask.sum() * voxel_ml)
    assert "Only the voxels inside the lesion mask" in p["notes"]
    assert p["model_grid"]["shape"] == [16, 16, 16]
    assert result.mask_provenance["role"] == "lesion_mask" and result.mask_provenance["seed"] == 9
