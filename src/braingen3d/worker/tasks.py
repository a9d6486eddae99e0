"""The worker's tasks, one per request type of ``braingen3d.worker.protocol``.

``generate`` and ``inpaint`` write NIfTI files into the request's ``output_dir``; ``export`` writes each
requested format; ``probe`` reports the engine version and devices. Each task turns its protocol request
into the engine's request object (``braingen3d.requests``), so the worker resolves defaults exactly as the
Python API and the CLI do, and checks everything before it loads a model.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..core.errors import BrainGenError, InvalidInputError
from ..core.progress import CancelToken
from ..requests.export import ExportRequest
from ..requests.generation import GenerationRequest
from ..requests.inpaint import InpaintRequest
from ..sampling.repaint import Resampling
from .pipeline_cache import PipelineCache
from .protocol import ExportTask, GenerateTask, InpaintTask, ProbeTask

Emit = Callable[..., None]
Outputs = list[dict[str, Any]]


@dataclass
class TaskContext:
    """What a task may use besides its request.

    Args:
        cancel: set to stop the task at the next step boundary (``CancelledError``).
        pipelines: the warm worker's loaded model, reused across tasks (a one-shot worker loads its own).
    """

    cancel: CancelToken | None = None
    pipelines: PipelineCache = field(default_factory=PipelineCache)


def check_output_folder(path: str) -> Path:
    """The request's ``output_dir``, refused (naming the field) if it or a parent is a file or it is not writable."""
    folder = Path(path)
    if not path.strip():
        raise InvalidInputError("The request field 'output_dir' is empty; give the folder the outputs go to.")
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise InvalidInputError(f"The request field 'output_dir' ({folder}) needs {existing} to be a folder, but it "
                                "is a file. Choose another output folder.")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidInputError(f"The request field 'output_dir' ({folder}): {existing} is not writable. Choose a "
                                "folder you can write to.")
    return folder


def output_folder(path: str) -> Path:
    """The request's ``output_dir`` (checked by ``check_output_folder``), created if missing."""
    folder = check_output_folder(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _progress(emit: Emit) -> Callable[[Any], None]:
    return lambda event: emit("progress", **event.to_dict())


def run_generate(task: GenerateTask, emit: Emit, context: TaskContext | None = None) -> Outputs:
    """Generate volumes and write them as NIfTI into ``output_dir``; one output per volume."""
    from ..bundle import default_bundle_path, read_config
    from ..core.device import check_device_name
    from ..io import write_volume

    context = context or TaskContext()
    request = GenerationRequest(task.prompt, task.negative_prompt, task.steps, task.guidance, task.sampler, task.seed,
                                task.num_volumes, task.unconditional, task.structure_guidance)
    # Everything is checked before the model loads.
    request = request.resolve(read_config(Path(task.bundle) if task.bundle else default_bundle_path()).sampling_defaults)
    check_output_folder(task.output_dir)
    check_device_name(task.device)
    pipeline = context.pipelines.get(task.bundle or None, task.device or "auto")
    folder = output_folder(task.output_dir)
    output = pipeline.generate(request, callback=_progress(emit), cancel=context.cancel)
    results = []
    for volume in output.volumes:
        name = f"braingen3d_seed{volume.provenance['seed']}_{os.getpid()}.nii.gz"
        write_volume(volume, folder / name, overwrite=True, preview=False)
        results.append({"path": str(folder / name), "provenance": volume.provenance})
    return results


def run_inpaint(task: InpaintTask, emit: Emit, context: TaskContext | None = None) -> Outputs:
    """Inpaint ``volume`` in ``mask``; every check runs before the model loads, and files are written only at the end.

    Returns:
        Two outputs: ``{"path", "role": "volume", "provenance"}`` and ``{"path", "role": "lesion_mask", "provenance"}``.
    """
    from ..core.device import resolve_device
    from ..pipelines.inpaint import (
        InpaintOutputPaths,
        check_inpaint_outputs,
        plan_inpaint_job,
        run_inpaint_job,
        write_inpaint_outputs,
    )

    context = context or TaskContext()
    check_output_folder(task.output_dir)
    default = Resampling()
    resampling = Resampling(rounds=default.rounds if task.resample_rounds is None else task.resample_rounds,
                            jump_length=default.jump_length if task.jump_length is None else task.jump_length)
    # An empty negative prompt from a client means "the bundle's inpainting default", as a missing one does.
    request = InpaintRequest(task.prompt, task.negative_prompt or None, task.steps, task.guidance, task.sampler,
                             task.seed, task.method or "auto", task.blend_margin_mm, resampling, task.attempts,
                             task.min_contrast)
    volume_path, mask_path = Path(task.volume), Path(task.mask)
    job = plan_inpaint_job(volume_path, mask_path, request, bundle=task.bundle or None,
                           resample_mask=task.resample_mask)
    folder = output_folder(task.output_dir)
    paths = InpaintOutputPaths.in_folder(folder, job.inputs.volume.name, job.params.seed, f"_{os.getpid()}")
    check_inpaint_outputs(paths, overwrite=True, sources=[volume_path, mask_path])
    device = task.device or "auto"
    resolve_device(device)
    pipeline = context.pipelines.get(str(job.bundle_path), device)
    result = run_inpaint_job(job, device, callback=_progress(emit), cancel=context.cancel, pipeline=pipeline)
    write_inpaint_outputs(result, paths, overwrite=True, xform_code=job.inputs.volume.xform_code,
                          qform_code=job.inputs.volume.qform_code)
    return [
        {"path": str(paths.volume), "role": "volume", "provenance": result.provenance},
        {"path": str(paths.lesion_mask), "role": "lesion_mask", "provenance": result.mask_provenance},
    ]


def export_requests(task: ExportTask) -> list[ExportRequest]:
    """One ``ExportRequest`` per requested format (the DICOM contrast applies to DICOM only)."""
    return [ExportRequest(Path(task.volume), item["format"], Path(item["output"]),
                          mask=Path(task.mask) if task.mask else None,
                          modality=task.modality if item["format"] == "dicom" else None, overwrite=task.overwrite)
            for item in task.exports]


class ExportFailed(BrainGenError):
    """One format of an export request failed; the message names it and what was already written."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def run_export(task: ExportTask, emit: Emit, context: TaskContext | None = None) -> Outputs:
    """Export ``volume`` (and ``mask``) in every requested format, one after the other.

    Returns:
        ``{"path", "format"}`` for every file (or DICOM folder) written.

    Raises:
        ExportFailed: a format could not be exported (``invalid_input`` for what the engine refuses, ``internal``
            otherwise), naming the formats already written.
    """
    context = context or TaskContext()
    requests = export_requests(task)
    outputs: Outputs = []
    for index, request in enumerate(requests):
        if context.cancel is not None:
            context.cancel.check()
        emit("progress", step=index, total=len(requests), volume=1, num_volumes=1, eta_seconds=None,
             phase=f"export {request.format}")
        parent = request.output.parent
        created_parent = not parent.exists()
        parent.mkdir(parents=True, exist_ok=True)
        try:
            written = _export_one(request)
        except ExportFailed as failure:
            if created_parent:
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only if the export left it empty
            if outputs:
                failure.args = (f"{failure} Already written: {', '.join(o['path'] for o in outputs)}.",)
            raise failure from failure.__cause__
        outputs += [{"path": str(path), "format": request.format} for path in written]
    emit("progress", step=len(requests), total=len(requests), volume=1, num_volumes=1, eta_seconds=0.0,
         phase="export done")
    return outputs


def _export_one(request: ExportRequest) -> list[Path]:
    label = f"{request.format} export failed:"
    try:
        from ..pipelines.export import export_volume

        return export_volume(request)
    except ImportError as exc:
        raise ExportFailed(f"{label} Exporting {request.format} needs a package that is not installed ({exc}). "
                           "DICOM export needs pydicom and highdicom.", "internal") from exc
    except BrainGenError as exc:
        raise ExportFailed(f"{label} {exc}", exc.kind) from exc
    except OSError as exc:  # full disk, permissions: nothing of this format was left behind
        raise ExportFailed(f"{label} {exc}. No output of this export was kept; fix the cause and run it again.",
                           "internal") from exc


def run_probe(task: ProbeTask, emit: Emit, context: TaskContext | None = None) -> Outputs:
    """Report the engine version and devices (the panel's device field)."""
    from .. import __version__
    from ..core.device import describe_devices

    return [{"engine_version": __version__, "devices": describe_devices()}]


TASKS: dict[str, Callable[[Any, Emit, TaskContext], Outputs]] = {
    "generate": run_generate,
    "inpaint": run_inpaint,
    "export": run_export,
    "probe": run_probe,
}


def run_task(task: Any, emit: Emit, context: TaskContext | None = None) -> Outputs:
    """Run a parsed protocol request (with a fresh context unless the warm worker passes its own)."""
    if task.task not in TASKS:
        raise InvalidInputError(f"Unknown task {task.task!r}; expected one of {sorted(TASKS)}.")
    return TASKS[task.task](task, emit, context or TaskContext())
