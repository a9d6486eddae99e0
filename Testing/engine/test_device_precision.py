"""Inference precision: bf16 autocast on bf16-native CPUs unless switched off, and recorded in provenance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from braingen3d.core.device import CPU_BF16_ENV, cpu_supports_bf16, inference_context, inference_dtype, precision_name

CPU = torch.device("cpu")


def test_cpu_uses_bf16_exactly_when_native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CPU_BF16_ENV, raising=False)
    expected = torch.bfloat16 if cpu_supports_bf16() else None
    assert inference_dtype(CPU) == expected
    assert precision_name("cpu") == ("bf16 autocast" if expected else "fp32")
    with inference_context(CPU):
        out = torch.nn.Linear(4, 4)(torch.ones(1, 4))
    assert out.dtype == (expected or torch.float32)
    assert not out.requires_grad


def test_the_environment_switches_cpu_bf16_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    assert inference_dtype(CPU) is None
    assert precision_name(CPU) == "fp32"
    with inference_context(CPU):
        assert torch.nn.Linear(4, 4)(torch.ones(1, 4)).dtype == torch.float32


def test_provenance_records_the_precision_and_fp32_differs_only_by_rounding(tiny_pipeline,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    fp32 = tiny_pipeline("T1-weighted MRI", num_inference_steps=3, seed=4).volumes[0]
    assert fp32.provenance["precision"] == "fp32"
    monkeypatch.delenv(CPU_BF16_ENV)
    default = tiny_pipeline("T1-weighted MRI", num_inference_steps=3, seed=4).volumes[0]
    assert default.provenance["precision"] == precision_name(CPU)
    assert default.array.dtype == np.float32
    if default.provenance["precision"] == "fp32":
        np.testing.assert_array_equal(default.array, fp32.array)
    else:
        assert np.abs(default.array - fp32.array).mean() < 0.02
