"""The worker's tasks: ``generate`` and ``inpaint`` write NIfTI files into the request's ``output_dir``; ``probe``
reports the engine version and devices."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..core.device import resolve_device
from ..core.errors import InvalidInputError
from ..pipelines.inpaint import (
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


def _output_dir(request: dict[str, Any]) -> Path:
    folder = request.get("output_dir")
    if not folder:
        raise InvalidInputError("The request has no 'output_dir'.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_generate(request: dict[str, Any], emit: Emit) -> list[dict[str, Any]]:
    """Generate volumes and write them as NIfTI into the request's ``output_dir``."""
    from ..io import write_volume
    from ..pipelines.generation import BrainGenPipeline

    folder = _output_dir(request)
    pipeline = BrainGenPipeline.from_bundle(request.get("bundle") or None, request.get("device") or "auto")

    def on_progress(event) -> None:
        emit("progress", **event.to_dict())

    output = pipeline(
        request.get("prompt", ""),
        request.get("negative_prompt", ""),
        request.get("steps"),
        request.get("guidance"),
        request.get("sampler"),
        request.get("seed"),
        int(request.get("num_volumes", 1)),
        callback=on_progress,
        allow_unconditional=bool(request.get("unconditional", False)),
        structure_guidance=request.get("structure_guidance"),
    )
    results = []
    for volume in output.volumes:
        name = f"braingen3d_seed{volume.provenance['seed']}_{os.getpid()}.nii.gz"
        write_volume(volume, folder / name, overwrite=True, preview=False)
        results.append({"path": str(folder / name), "provenance": volume.provenance})
    return results


def run_inpaint(request: dict[str, Any], emit: Emit) -> list[dict[str, Any]]:
    return run_inpaint_request(request, emit, _output_dir(request))


def run_probe(request: dict[str, Any], emit: Emit) -> list[dict[str, Any]]:
    """Report the engine version and devices (the panel's device field)."""
    from .. import __version__
    from ..core.device import describe_devices

    return [{"engine_version": __version__, "devices": describe_devices()}]


TASKS: dict[str, Callable[[dict[str, Any], Emit], list[dict[str, Any]]]] = {
    "generate": run_generate,
    "inpaint": run_inpaint,
    "probe": run_probe,
}
