"""Bundles stored in float16 are half the size, load as float32 and generate nearly the same volume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from braingen3d.bundle import load_bundle, make_random_bundle, save_bundle
from braingen3d.bundle.weights import save_weights
from braingen3d.core.device import CPU_BF16_ENV
from braingen3d.core.errors import BundleError
from braingen3d.pipelines.generation import BrainGenPipeline


@pytest.mark.slow
def test_float16_bundle_is_half_size_and_loads_as_float32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, "0")  # compare storage rounding alone, not bf16 arithmetic too
    source = load_bundle(make_random_bundle(tmp_path / "fp32", "tiny"))
    half = save_bundle(tmp_path / "fp16", source.config, source.autoencoder, source.unet, source.card, weights_dtype="float16")
    for name in ("autoencoder.safetensors", "unet.safetensors"):
        stored = load_file(str(half / name))
        assert all(t.dtype == torch.float16 for t in stored.values() if t.is_floating_point())
        assert (half / name).stat().st_size < 0.6 * (source.path / name).stat().st_size
    loaded = load_bundle(half)
    assert all(p.dtype == torch.float32 for p in loaded.unet.parameters())
    a = BrainGenPipeline.from_bundle(source.path, "cpu")("T1 MRI", num_inference_steps=2, seed=0).volumes[0].array
    b = BrainGenPipeline.from_bundle(half, "cpu")("T1 MRI", num_inference_steps=2, seed=0).volumes[0].array
    assert not np.array_equal(a, b) and np.abs(a - b).max() < 0.05


def test_float16_refuses_values_it_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not fit in float16"):
        save_weights({"big": torch.tensor([1e6])}, tmp_path / "w.safetensors", "float16")
    with pytest.raises(BundleError, match="Unknown weights dtype"):
        save_weights({"w": torch.zeros(1)}, tmp_path / "w.safetensors", "int8")


def test_a_header_length_starting_with_0x80_is_not_taken_for_a_pickle(tmp_path: Path) -> None:
    """The 8-byte header length of a valid file can begin with the pickle PROTO byte 0x80."""
    from braingen3d.bundle.weights import load_weights

    path = tmp_path / "w.safetensors"
    for name_length in range(1, 300):
        save_weights({"x" * name_length: torch.zeros(1)}, path)
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("no header length with low byte 0x80 found")
    assert list(load_weights(path)) == ["x" * name_length]
    import pickle

    pickled = tmp_path / "p.safetensors"
    pickled.write_bytes(pickle.dumps({"w": [1.0]}, protocol=4))
    with pytest.raises(BundleError, match="pickle"):
        load_weights(pickled)
