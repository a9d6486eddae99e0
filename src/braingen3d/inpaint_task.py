"""The worker's ``inpaint`` task: JSON request → inpainted volume and lesion mask (NIfTI) in ``output_dir``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from .device import resolve_device
from .errors import InvalidInputError
from .inpaint import (
    InpaintOutputPaths,
    Resampling,
    check_inpaint_outputs,
    plan_inpaint_job,
    run_inpaint_job,
    write_inpaint_outputs,
)

Emit = Callable[..., None]


def _required_path(request: dict[str, Any], key: str) -> Path:
    value = request.get(key)
    if not value or not isinstance(value, str):
        raise InvalidInputError(f"The inpaint request needs '{key}': the path of the {key} file.")
    return Path(value)


def _resampling(request: dict[str, Any]) -> Resampling:
    default = Resampling()
    rounds, jump = request.get("resample_rounds"), request.get("jump_length")
    return Resampling(rounds=default.rounds if rounds is None else rounds,
                      jump_length=default.jump_length if jump is None else jump)


def run_inpaint_request(request: dict[str, Any], emit: Emit, output_dir: Path) -> list[dict[str, Any]]:
    """Run one inpaint request; every check runs before the model loads, and files are written only at the end.

    Args:
        request: ``volume``, ``mask``, ``prompt`` and optionally ``negative_prompt``, ``steps``, ``guidance``,
            ``sampler``, ``seed``, ``bundle``, ``device``, ``method``, ``blend_margin_mm``, ``resample_mask``,
            ``resample_rounds``, ``jump_length``, ``attempts``, ``min_contrast``.
        emit: sends a worker event (``emit(event, **fields)``).
        output_dir: where the outputs go (created by the worker).

    Returns:
        Two outputs: ``{"path", "role": "volume", "provenance"}`` and ``{"path", "role": "lesion_mask", "provenance"}``.
    """
    volume_path, mask_path = _required_path(request, "volume"), _required_path(request, "mask")
    job = plan_inpaint_job(
        volume_path, mask_path, request.get("prompt"),
        bundle=request.get("bundle") or None,
        negative_prompt=request.get("negative_prompt") or None,
        steps=request.get("steps"),
        guidance=request.get("guidance"),
        sampler=request.get("sampler"),
        seed=request.get("seed"),
        method=request.get("method") or "auto",
        blend_margin_mm=request.get("blend_margin_mm"),
        resample_mask=bool(request.get("resample_mask", False)),
        resampling=_resampling(request),
        attempts=request.get("attempts"),
        min_contrast=request.get("min_contrast"),
    )
    paths = InpaintOutputPaths.in_folder(output_dir, job.inputs.volume.name, job.params.generation.seed, f"_{os.getpid()}")
    check_inpaint_outputs(paths, overwrite=True, sources=[volume_path, mask_path])
    device = request.get("device") or "auto"
    resolve_device(device)
    result = run_inpaint_job(job, device, callback=lambda event: emit("progress", **event.to_dict()))
    write_inpaint_outputs(result, paths, overwrite=True, xform_code=job.inputs.volume.xform_code)
    return [
        {"path": str(paths.volume), "role": "volume", "provenance": result.provenance},
        {"path": str(paths.lesion_mask), "role": "lesion_mask", "provenance": result.mask_provenance},
    ]
