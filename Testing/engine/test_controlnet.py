"""ControlNet conditioning through the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from braingen3d.bundle import load_bundle, make_random_bundle
from braingen3d.core.errors import BundleError, InvalidInputError
from braingen3d.pipelines.generation import BrainGenPipeline


@pytest.fixture(scope="module")
def control_pipeline(tmp_path_factory) -> BrainGenPipeline:
    path = make_random_bundle(tmp_path_factory.mktemp("bundles") / "control", preset="tiny", with_controlnet=True)
    return BrainGenPipeline.from_bundle(path, device="cpu")


@pytest.fixture()
def labels() -> np.ndarray:
    labels = np.zeros((16, 16, 16))
    labels[3:13, 3:13, 3:13] = 3
    labels[6:10, 6:10, 6:10] = 4
    return labels


def test_bundle_declares_and_loads_the_controlnet(control_pipeline):
    config = control_pipeline.config
    assert config.capabilities["controlnet"] is True
    assert control_pipeline.bundle.controlnet is not None
    assert config.controlnet["control"] == {"kind": "tissue_labels", "max_label": 5}


def test_control_map_steers_generation_deterministically(control_pipeline, labels):
    plain = control_pipeline("T1 brain", num_inference_steps=3, seed=1).volumes[0].array
    steered = control_pipeline("T1 brain", num_inference_steps=3, seed=1, control=labels).volumes[0]
    again = control_pipeline("T1 brain", num_inference_steps=3, seed=1, control=labels).volumes[0].array
    assert not np.array_equal(plain, steered.array)
    assert np.array_equal(steered.array, again)
    assert steered.provenance["control_scale"] == 1.0


def test_zero_scale_is_the_plain_unet(control_pipeline, labels):
    plain = control_pipeline("T1 brain", num_inference_steps=3, seed=1).volumes[0].array
    zero = control_pipeline("T1 brain", num_inference_steps=3, seed=1, control=labels, control_scale=0.0).volumes[0].array
    assert np.array_equal(plain, zero)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((8, 8, 8)), "bundle grid"),
    (np.full((16, 16, 16), 9.0), "tissue labels"),
    (np.full((16, 16, 16), 1.5), "tissue labels"),
    (np.full((16, 16, 16), np.nan), "NaN"),
])
def test_bad_control_maps_are_refused(control_pipeline, bad, message):
    with pytest.raises(InvalidInputError, match=message):
        control_pipeline("T1 brain", num_inference_steps=2, seed=0, control=bad)


def test_bundle_without_controlnet_refuses_a_control_map(tiny_pipeline, labels):
    with pytest.raises(BundleError, match="no ControlNet"):
        tiny_pipeline("T1 brain", num_inference_steps=2, seed=0, control=labels)


def test_missing_controlnet_weights_are_named(tmp_path):
    path = make_random_bundle(tmp_path / "b", preset="tiny", with_controlnet=True)
    (path / "controlnet.safetensors").unlink()
    with pytest.raises(BundleError, match="controlnet.safetensors"):
        load_bundle(path)
