"""The export job: ``braingen3d export`` for each requested format, in one child process.

The panel never exports in its own process: the engine's command line is what writes NIfTI, NRRD,
Slicer .seg.nrrd and DICOM (series + SEG) files with their provenance, and importing it loads torch.
Running every format of one request in one process pays that start-up once. The job speaks the worker
protocol (docs/architecture.md), so the module runs it with the same ``WorkerRunner`` as the worker
(progress, cancel, error reporting)::

    python export_job.py < request.json

Request: ``{"task": "export", "volume": path, "mask": path or null, "exports": [{"format": "nifti" |
"nrrd" | "dicom", "output": path}, ...], "modality": "T1" ... or null, "overwrite": bool}``. The
volume (and mask) must be files braingen3d can read, with BrainGen3D provenance.

Events: ``started``, ``progress`` (one step per format), ``log``, then ``result`` with ``outputs``
``[{"path", "format"}]`` (what the command line reports having written) and ``done``; or ``error``
(``invalid_input`` for what the command line refuses, ``internal`` otherwise) naming the formats
already written.

This file is run as a script by the module's Python; it imports nothing from Slicer or the module.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, TextIO

FORMATS = ("nifti", "nrrd", "dicom")
CLI_USAGE_ERROR = 2
ERROR_PREFIX = "error: "


class EventStream:
    """Writes worker-protocol events, one JSON object per line, to the real stdout."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        self.stream.flush()


def check_request(request: Any) -> str | None:
    """What is wrong with the request, or None."""
    if not isinstance(request, dict) or request.get("task") != "export":
        return "The request must be a JSON object with \"task\": \"export\"."
    if not isinstance(request.get("volume"), str):
        return "The request needs 'volume': the path of the volume to export."
    exports = request.get("exports")
    if not isinstance(exports, list) or not exports:
        return "The request needs 'exports': a non-empty list of {\"format\", \"output\"}."
    for item in exports:
        if not isinstance(item, dict) or item.get("format") not in FORMATS or not isinstance(item.get("output"), str):
            return f"Each export needs a 'format' ({', '.join(FORMATS)}) and an 'output' path; got {item!r}."
    return None


def command_line(request: dict[str, Any], export: dict[str, str]) -> list[str]:
    """The ``braingen3d`` arguments that export ``request['volume']`` in one format."""
    argv = ["-q", "export", request["volume"], "--to", export["format"], "-o", export["output"]]
    if request.get("mask"):
        argv += ["--mask", request["mask"]]
    if export["format"] == "dicom" and request.get("modality"):
        argv += ["--modality", request["modality"]]
    if request.get("overwrite"):
        argv.append("--overwrite")
    return argv


def cli_error(stderr_text: str) -> str:
    """The command line's own error message (its ``error: ...`` line)."""
    lines = [line[len(ERROR_PREFIX):] for line in stderr_text.splitlines() if line.startswith(ERROR_PREFIX)]
    return lines[-1] if lines else (stderr_text.strip().splitlines() or ["no message"])[-1]


def run(request: dict[str, Any], emit: EventStream) -> int:
    """Export every requested format; returns the process exit code."""
    emit("log", level="INFO", message="Loading the BrainGen3D engine")
    from braingen3d.cli.main import main as braingen3d_main

    exports = request["exports"]
    outputs: list[dict[str, str]] = []
    for index, export in enumerate(exports):
        emit("progress", step=index, total=len(exports), volume=1, num_volumes=1, eta_seconds=None,
             phase=f"export {export['format']}")
        target_parent = Path(export["output"]).parent
        created_parent = not target_parent.exists()
        target_parent.mkdir(parents=True, exist_ok=True)
        printed, errors = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
                try:
                    code = braingen3d_main(command_line(request, export))
                except SystemExit as exc:  # argparse refuses an argument
                    code = exc.code if isinstance(exc.code, int) else CLI_USAGE_ERROR
        except ImportError as exc:
            code, kind = -1, "internal"
            message = (f"Exporting {export['format']} needs a package that is not installed ({exc}). "
                       "DICOM export needs pydicom and highdicom.")
        except Exception as exc:  # noqa: BLE001 - the client must always hear why the job stopped
            code, kind, message = -1, "internal", f"{type(exc).__name__}: {exc}"
        else:
            kind = "invalid_input" if code == CLI_USAGE_ERROR else "internal"
            message = cli_error(errors.getvalue()) if code else ""
        for line in errors.getvalue().splitlines():
            emit("log", level="INFO", message=line)
        if code != 0:
            if created_parent:
                with contextlib.suppress(OSError):
                    target_parent.rmdir()  # only if the command line left it empty
            if outputs:
                message += " Already written: " + ", ".join(o["path"] for o in outputs) + "."
            emit("error", kind=kind, message=f"{export['format']} export failed: {message}")
            return 1
        outputs += [{"path": line.strip(), "format": export["format"]} for line in printed.getvalue().splitlines()
                    if line.strip()]
    emit("progress", step=len(exports), total=len(exports), volume=1, num_volumes=1, eta_seconds=0.0,
         phase="export done")
    emit("result", outputs=outputs)
    return 0


def main() -> int:
    emit = EventStream(sys.stdout)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    emit("started", pid=os.getpid())
    try:
        request = json.loads(sys.stdin.read() or "{}")
    except json.JSONDecodeError as exc:
        request, problem = None, f"The request is not valid JSON: {exc}"
    else:
        problem = check_request(request)
    if problem:
        emit("error", kind="invalid_input", message=problem)
        code = 2
    else:
        code = run(request, emit)
    emit("done")
    return code


if __name__ == "__main__":
    sys.exit(main())
