"""The embedded bundle gives the voxels it gave before its U-Nets took their conditioning as named arguments.

The reference (``data/embedded_bundle_voxels.json``) holds the SHA-256 of the float32 volumes and their mean
along each axis, from the engine in which the prompt attributes travelled as an extra context token and hooks
added them inside the U-Net. On the reference CPU the volumes are bit-identical; elsewhere a different BLAS
may change the last bits, so the test compares the axis profiles to 1e-5.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

REFERENCE = json.loads((Path(__file__).parent / "data" / "embedded_bundle_voxels.json").read_text())["cases"]
PROMPT = "FLAIR MRI of a 60-year-old man with multiple white-matter lesions"
LESION_PROMPT = "a 12 mm white-matter hyperintensity"


def _check(name: str, array: np.ndarray) -> None:
    reference = REFERENCE[name]
    profiles = [array.astype(np.float64).mean(axis=tuple(j for j in range(3) if j != i)) for i in range(3)]
    for axis, (got, expected) in enumerate(zip(profiles, reference["profiles"])):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5, err_msg=f"{name}, profile along axis {axis}")
    digest = hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()
    print(f"{name}: {'bit-identical' if digest == reference['sha256'] else 'within 1e-5, not bit-identical'}")


@pytest.mark.slow
def test_generation_and_inpainting_give_the_reference_voxels(monkeypatch: pytest.MonkeyPatch) -> None:
    from braingen3d import BrainGenPipeline, LesionInpainter
    from braingen3d.core.device import CPU_BF16_ENV

    monkeypatch.setenv(CPU_BF16_ENV, "0")  # fp32: bf16 autocast would change the voxels by design
    pipeline = BrainGenPipeline.from_bundle(None, "cpu")
    volume = pipeline(PROMPT, negative_prompt="enlarged ventricles", num_inference_steps=6, seed=3).volumes[0]
    assert volume.provenance["precision"] == "fp32"
    _check("flair_lesions", volume.array)

    ii, jj, kk = np.indices(volume.array.shape)
    mask = ((ii - 30) ** 2 + (jj - 50) ** 2 + (kk - 50) ** 2 <= 25).astype(np.uint8)
    result = LesionInpainter(pipeline)(volume.array, pipeline.config.grid.affine.copy(), mask, LESION_PROMPT,
                                       num_inference_steps=6, seed=4, method="inpaint_unet", attempts=1)
    _check("inpaint_inpaint_unet", result.array)
