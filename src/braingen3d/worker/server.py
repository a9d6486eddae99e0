"""The worker process the Slicer module runs: one JSON request on stdin, JSON-line events on stdout.

Run as ``python -m braingen3d.worker``; the protocol (requests, events, error kinds) is
``braingen3d.worker.protocol``. Only events go to stdout; logging goes to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback
from typing import Any

from ..core.errors import BrainGenError
from .protocol import ProtocolError, event, read_request
from .tasks import run_task

logger = logging.getLogger("braingen3d.worker")


class EventWriter:
    """Writes one JSON object per line to a stream, thread-safely, flushing each line."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, name: str, **fields: Any) -> None:
        line = json.dumps(event(name, **fields), default=str)
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


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def event_stream(stdout=None) -> EventWriter:
    """The event writer on ``stdout``; from now on anything a library prints goes to stderr, and the engine's
    log records also go to the client as ``log`` events."""
    emit = EventWriter(stdout or sys.stdout)
    # Anything a library prints must not corrupt the event stream: stdout now goes to stderr.
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("braingen3d").addHandler(EventLogHandler(emit))
    return emit


def out_of_memory_message() -> str:
    return "The worker ran out of memory. Generate fewer volumes at once, close other programs, or use a GPU."


def serve(stdin=None, stdout=None) -> int:
    """Read one request, run it, report events. Returns the process exit code."""
    stdin = stdin or sys.stdin
    emit = event_stream(stdout)
    emit("started", pid=os.getpid())
    try:
        outputs = run_task(read_request(stdin.read()), emit)
        emit("result", outputs=outputs)
        emit("done")
        return 0
    except ProtocolError as exc:
        emit("error", kind=exc.kind, message=str(exc))
    except BrainGenError as exc:
        emit("error", kind=exc.kind, message=str(exc))
    except BaseException as exc:  # the client must always hear why the worker stopped
        if is_out_of_memory(exc):
            emit("error", kind="out_of_memory", message=out_of_memory_message())
        else:
            traceback.print_exc(file=sys.stderr)
            emit("error", kind="internal", message=f"{type(exc).__name__}: {exc}")
    return 1

