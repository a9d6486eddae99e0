"""Worker process for the Slicer module: one JSON request on stdin, JSON-line events on stdout.

Run as ``python -m braingen3d.worker``. The protocol is documented in docs/architecture.md.
Only events go to stdout; logging goes to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from .errors import BrainGenError, InvalidInputError

logger = logging.getLogger("braingen3d.worker")


class EventWriter:
    """Writes one JSON object per line to a stream, thread-safely, flushing each line."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, default=str)
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


class EventLogHandler(logging.Handler):
    """Forwards engine log records to the client as ``log`` events."""

    def __init__(self, emit: EventWriter) -> None:
        super().__init__(logging.INFO)
        self.emit_event = emit

    def emit(self, record: logging.LogRecord) -> None:
        self.emit_event("log", level=record.levelname, message=record.getMessage())


def _output_dir(request: dict[str, Any]) -> Path:
    folder = request.get("output_dir")
    if not folder:
        raise InvalidInputError("The request has no 'output_dir'.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_generate(request: dict[str, Any], emit: EventWriter) -> list[dict[str, Any]]:
    """Generate volumes and write them as NIfTI into the request's ``output_dir``."""
    from .io import write_volume
    from .pipeline import BrainGenPipeline

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


def run_inpaint(request: dict[str, Any], emit: EventWriter) -> list[dict[str, Any]]:
    from .inpaint_task import run_inpaint_request

    return run_inpaint_request(request, emit, _output_dir(request))


def run_probe(request: dict[str, Any], emit: EventWriter) -> list[dict[str, Any]]:
    """Report the engine version and devices (the panel's device field)."""
    from . import __version__
    from .device import describe_devices

    return [{"engine_version": __version__, "devices": describe_devices()}]


TASKS: dict[str, Callable[[dict[str, Any], EventWriter], list[dict[str, Any]]]] = {
    "generate": run_generate,
    "inpaint": run_inpaint,
    "probe": run_probe,
}


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def serve(stdin=None, stdout=None) -> int:
    """Read one request, run it, report events. Returns the process exit code."""
    stdin = stdin or sys.stdin
    emit = EventWriter(stdout or sys.stdout)
    # Anything a library prints must not corrupt the event stream: stdout now goes to stderr.
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("braingen3d").addHandler(EventLogHandler(emit))
    emit("started", pid=os.getpid())
    try:
        request = json.loads(stdin.read() or "{}")
        if not isinstance(request, dict):
            raise InvalidInputError("The request must be a JSON object.")
        task = request.get("task")
        if task not in TASKS:
            raise InvalidInputError(f"Unknown task {task!r}; expected one of {sorted(TASKS)}.")
        outputs = TASKS[task](request, emit)
        emit("result", outputs=outputs)
        emit("done")
        return 0
    except json.JSONDecodeError as exc:
        emit("error", kind="invalid_input", message=f"The request is not valid JSON: {exc}")
    except BrainGenError as exc:
        emit("error", kind=exc.kind, message=str(exc))
    except BaseException as exc:  # the client must always hear why the worker stopped
        if _is_out_of_memory(exc):
            emit("error", kind="out_of_memory",
                 message="The worker ran out of memory. Generate fewer volumes at once, close other programs, or use a GPU.")
        else:
            traceback.print_exc(file=sys.stderr)
            emit("error", kind="internal", message=f"{type(exc).__name__}: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(serve())
