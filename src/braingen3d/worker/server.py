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

from ..core.errors import BrainGenError, InvalidInputError
from .tasks import TASKS

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

