"""The stand-in worker's ``inpaint`` task: the real task's file contract, without a model.

It reads the volume and mask files the panel wrote, refuses what the engine refuses (with error events
of the same kind, ``invalid_input``, and messages naming the same problems), and otherwise writes the
two outputs the real task writes, on the source grid: the volume with every mask voxel set brighter
than the brightest source voxel (all other voxels copied bit for bit), and the mask as uint8.

The checks are simple versions of the engine's (``braingen3d.pipelines.inpaint.inputs``), so that tests can
provoke each refusal from the panel with real scene data: NaN/inf or constant volume, empty mask,
mask mostly on background, mask over half the foreground.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np

BACKGROUND_FRACTION = 0.05  # foreground: above 5 % of the way from the minimum to the maximum
MAX_OUTSIDE_FRACTION = 0.5
MAX_FOREGROUND_FRACTION = 0.5
LESION_BRIGHTNESS = 0.5  # lesion voxels: this fraction of the range above the maximum


def problem_with(volume: np.ndarray, mask: np.ndarray, volume_name: str) -> str | None:
    """Why the engine would refuse this volume and mask, or None."""
    if not np.all(np.isfinite(volume)):
        bad = int(np.count_nonzero(~np.isfinite(volume)))
        return f"The volume {volume_name} contains {bad} NaN or infinite voxels. Fix or replace them before inpainting."
    if volume.min() == volume.max():
        return f"The volume {volume_name} is constant (every voxel is {volume.flat[0]}); there is no image to inpaint."
    voxels = int(np.count_nonzero(mask))
    if voxels == 0:
        return "The mask is empty (no non-zero voxels). Draw the lesion region first."
    low, high = float(volume.min()), float(volume.max())
    foreground = volume > low + BACKGROUND_FRACTION * (high - low)
    outside = int(np.count_nonzero(mask & ~foreground))
    if outside > MAX_OUTSIDE_FRACTION * voxels:
        return (f"The mask lies outside the brain: {outside} of its {voxels} voxels are on background. "
                "Draw the lesion region inside the brain, and check that the mask belongs to this volume.")
    if voxels > MAX_FOREGROUND_FRACTION * np.count_nonzero(foreground):
        return (f"The mask covers {voxels} voxels, more than half of the brain/head ({int(foreground.sum())} voxels). "
                "Inpainting replaces lesions, not whole brains; draw a smaller region.")
    return None


def run(request: dict, emit: Callable[..., None], mode: str, step_seconds: float) -> int:
    """Run the inpaint request; returns the exit code."""
    volume_path, mask_path = Path(request["volume"]), Path(request["mask"])
    source = nib.load(volume_path)
    volume = np.asanyarray(source.dataobj)
    mask_image = nib.load(mask_path)
    mask = np.asanyarray(mask_image.dataobj) != 0
    if mask.shape != volume.shape or not np.allclose(mask_image.affine, source.affine, atol=1e-4):
        emit("error", kind="invalid_input", message=f"The mask {mask_path.name} is not in the volume's grid.")
        emit("done")
        return 2
    problem = problem_with(volume, mask, volume_path.name)
    if problem:
        emit("error", kind="invalid_input", message=problem)
        emit("done")
        return 2
    for step in range(1, request["steps"] + 1):
        time.sleep(step_seconds)
        emit("progress", step=step, total=request["steps"], volume=1, num_volumes=1,
             eta_seconds=step_seconds * (request["steps"] - step), phase="denoise")

    edited = volume.copy()
    low, high = float(volume.min()), float(volume.max())
    bright = high + LESION_BRIGHTNESS * (high - low)
    if np.issubdtype(volume.dtype, np.integer):
        bright = min(bright, float(np.iinfo(volume.dtype).max))
    edited[mask] = bright
    out_dir = Path(request["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    base = volume_path.name.split(".")[0]
    seed = request["seed"]
    volume_out = out_dir / f"{base}_inpainted_seed{seed}.nii.gz"
    mask_out = out_dir / f"{base}_lesion_mask_seed{seed}.nii.gz"
    if mode == "outside":
        volume_out = out_dir.parent / volume_out.name
    nib.save(nib.Nifti1Image(edited, source.affine), str(volume_out))
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), source.affine), str(mask_out))
    provenance = {"synthetic": True, "generator": "BrainGen3D", "engine_version": "standin", "task": "inpaint",
                  "prompt": request["prompt"], "negative_prompt": request["negative_prompt"], "seed": seed,
                  "steps": request["steps"], "guidance_scale": request["guidance"], "sampler": request["sampler"],
                  "bundle_id": "standin-bundle", "bundle_version": "0.0.1", "device": "cpu",
                  "method": "repaint" if request["method"] == "auto" else request["method"],
                  "blend_margin_mm": request["blend_margin_mm"], "source_volume": volume_path.name,
                  "mask_voxels": int(mask.sum()), "index": 0,
                  "created": datetime.datetime.now(datetime.timezone.utc).isoformat()}
    outputs = [{"path": str(volume_out), "role": "volume", "provenance": {**provenance, "role": "volume"}},
               {"path": str(mask_out), "role": "lesion_mask", "provenance": {**provenance, "role": "lesion_mask"}}]
    if mode != "no_result":
        emit("result", outputs=outputs)
    emit("done")
    return 0
