"""Sampling pipeline: determinism, N volumes, guidance, progress and cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from braingen3d.core.errors import CancelledError, InvalidInputError
from braingen3d.core.progress import CancelToken


def test_same_seed_gives_identical_voxels_and_other_seeds_differ(tiny_pipeline):
    first = tiny_pipeline("T1-weighted MRI of a 40-year-old man", num_inference_steps=4, seed=11).volumes[0]
    again = tiny_pipeline("T1-weighted MRI of a 40-year-old man", num_inference_steps=4, seed=11).volumes[0]
    other = tiny_pipeline("T1-weighted MRI of a 40-year-old man", num_inference_steps=4, seed=12).volumes[0]
    assert np.array_equal(first.array, again.array)
    assert not np.array_equal(first.array, other.array)


@pytest.mark.parametrize("sampler", ["dpm++", "ddim", "euler", "ddpm"])
def test_every_sampler_is_deterministic_under_a_seed(tiny_pipeline, sampler):
    a = tiny_pipeline("FLAIR brain", num_inference_steps=3, sampler=sampler, seed=5).volumes[0].array
    b = tiny_pipeline("FLAIR brain", num_inference_steps=3, sampler=sampler, seed=5).volumes[0].array
    assert np.array_equal(a, b)
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1


def test_n_volumes_use_consecutive_seeds(tiny_pipeline):
    batch = tiny_pipeline("T2 brain", num_inference_steps=3, seed=20, num_volumes=3).volumes
    single = tiny_pipeline("T2 brain", num_inference_steps=3, seed=22).volumes[0]
    assert [v.provenance["seed"] for v in batch] == [20, 21, 22]
    assert np.array_equal(batch[2].array, single.array)
    assert not np.array_equal(batch[0].array, batch[1].array)


def test_output_carries_bundle_geometry_and_provenance(tiny_pipeline):
    volume = tiny_pipeline("PD brain", negative_prompt="noise", num_inference_steps=2, guidance_scale=2.5,
                           sampler="ddim", seed=3).volumes[0]
    config = tiny_pipeline.config
    assert volume.array.shape == config.grid.shape
    assert np.allclose(volume.affine, config.grid.affine)
    p = volume.provenance
    assert p["synthetic"] is True
    assert (p["prompt"], p["negative_prompt"], p["seed"], p["steps"], p["guidance_scale"], p["sampler"]) == (
        "PD brain", "noise", 3, 2, 2.5, "ddim")
    assert p["bundle_id"] == config.bundle_id and p["bundle_version"] == config.version and p["created"]


def _count_unet_calls(pipeline, monkeypatch):
    calls = []
    original = pipeline.bundle.unet.forward

    def counting_forward(x, timesteps, context=None, **kwargs):
        calls.append((x.shape[0], context.clone()))
        return original(x, timesteps, context=context, **kwargs)

    monkeypatch.setattr(pipeline.bundle.unet, "forward", counting_forward)
    return calls


def test_guidance_is_one_batched_forward_per_step_with_the_real_negative_embedding(tiny_pipeline, monkeypatch):
    calls = _count_unet_calls(tiny_pipeline, monkeypatch)
    tiny_pipeline("T1 brain", negative_prompt="blurry", num_inference_steps=4, guidance_scale=3.0, seed=1)
    assert len(calls) == 4 and all(batch == 2 for batch, _ in calls)
    expected = tiny_pipeline.text_encoder.encode(["blurry", "T1 brain"])
    assert torch.allclose(calls[0][1].cpu(), expected)


def test_empty_prompt_is_the_unconditional_branch(tiny_pipeline, monkeypatch):
    calls = _count_unet_calls(tiny_pipeline, monkeypatch)
    tiny_pipeline("T1 brain", num_inference_steps=1, guidance_scale=3.0, seed=1)
    assert torch.allclose(calls[0][1][0].cpu(), tiny_pipeline.text_encoder.encode([""])[0])


def test_guidance_one_runs_only_the_conditional_branch(tiny_pipeline, monkeypatch):
    calls = _count_unet_calls(tiny_pipeline, monkeypatch)
    with_negative = tiny_pipeline("T1 brain", negative_prompt="blurry", num_inference_steps=2, guidance_scale=1.0, seed=1)
    without = tiny_pipeline("T1 brain", num_inference_steps=2, guidance_scale=1.0, seed=1)
    assert all(batch == 1 for batch, _ in calls)
    assert np.array_equal(with_negative.volumes[0].array, without.volumes[0].array)


def test_negative_prompt_changes_the_result_under_guidance(tiny_pipeline):
    plain = tiny_pipeline("T1 brain", num_inference_steps=3, guidance_scale=4.0, seed=9).volumes[0].array
    steered = tiny_pipeline("T1 brain", negative_prompt="enlarged ventricles", num_inference_steps=3,
                            guidance_scale=4.0, seed=9).volumes[0].array
    assert not np.array_equal(plain, steered)


def test_prompts_are_encoded_once_per_call_not_per_step(tiny_pipeline, monkeypatch):
    encoder = tiny_pipeline.text_encoder
    encoder._cache.clear()
    batches = []
    original = encoder._encode_uncached
    monkeypatch.setattr(encoder, "_encode_uncached", lambda prompts: batches.append(list(prompts)) or original(prompts))
    tiny_pipeline("a brand new prompt", negative_prompt="another new one", num_inference_steps=5, seed=0, num_volumes=2)
    assert batches == [["another new one", "a brand new prompt"]]


def test_progress_reports_every_step_with_eta(tiny_pipeline):
    events = []
    tiny_pipeline("T1 brain", num_inference_steps=4, seed=0, num_volumes=2, callback=events.append)
    denoise = [e for e in events if e.phase == "denoise"]
    assert [(e.volume, e.step) for e in denoise] == [(v, s) for v in (1, 2) for s in range(1, 5)]
    assert all(e.total == 4 and e.num_volumes == 2 and e.eta_seconds is not None and e.eta_seconds >= 0 for e in denoise)
    assert events[-1].phase == "decode" and events[-1].eta_seconds == 0


def test_cancel_is_checked_every_step(tiny_pipeline):
    token = CancelToken()
    seen = []

    def cancel_after_two(event):
        seen.append(event.step)
        if event.step == 2:
            token.cancel()

    with pytest.raises(CancelledError):
        tiny_pipeline("T1 brain", num_inference_steps=10, seed=0, callback=cancel_after_two, cancel=token)
    assert seen == [1, 2]


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt": ""}, "prompt is empty"),
    ({"prompt": "   "}, "prompt is empty"),
    ({"num_inference_steps": 0}, "steps"),
    ({"num_inference_steps": 1001}, "steps"),
    ({"guidance_scale": -0.5}, "guidance"),
    ({"num_volumes": 0}, "number of volumes"),
    ({"sampler": "plms"}, "Unknown sampler"),
    ({"seed": -1}, "seed"),
])
def test_bad_parameters_are_refused_with_a_message(tiny_pipeline, kwargs, message):
    arguments = {"prompt": "T1 brain", "num_inference_steps": 2, "seed": 0, **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        tiny_pipeline(**arguments)


def test_unconditional_generation_needs_the_explicit_flag(tiny_pipeline):
    volume = tiny_pipeline("", num_inference_steps=2, seed=0, allow_unconditional=True).volumes[0]
    assert volume.provenance["prompt"] == ""
