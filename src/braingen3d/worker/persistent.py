"""The warm worker: requests one after another over JSON lines, with the last bundle kept loaded.

``python -m braingen3d.worker --persistent`` runs ``serve_persistent``. The protocol (request ids, the
``cancel`` and ``shutdown`` controls) is described in ``braingen3d.worker.protocol``. A reader thread
reads stdin so that a ``cancel`` reaches the running task at once; the main thread runs the tasks.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any

from ..core.errors import BrainGenError
from ..core.progress import CancelToken
from .protocol import MAX_LINE_CHARACTERS, ProtocolError, control_of, parse_request, split_request_id
from .server import event_stream, is_out_of_memory, out_of_memory_message
from .tasks import TaskContext, run_task

logger = logging.getLogger("braingen3d.worker")

DEFAULT_IDLE_TIMEOUT = 600.0


@dataclass
class _Line:
    """One thing the reader thread passes on: a request, a line it could not read, or the end of input."""

    kind: str  # "request", "bad", "shutdown" or "end"
    data: Any = None
    request_id: Any = None
    message: str = ""


class _Running:
    """The request being run, so that the reader thread can cancel it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.request_id: Any = None
        self.token: CancelToken | None = None

    def start(self, request_id: Any) -> CancelToken:
        with self.lock:
            self.request_id, self.token = request_id, CancelToken()
            return self.token

    def finish(self) -> None:
        with self.lock:
            self.request_id, self.token = None, None

    def cancel(self, request_id: Any) -> None:
        """Cancel the running request (any, when ``request_id`` is None; else only that one)."""
        with self.lock:
            if self.token is not None and (request_id is None or request_id == self.request_id):
                self.token.cancel()


def _read_line(stream) -> str | None:
    """The next line (without its end), a marker for an over-long one, or None at the end of input."""
    line = stream.readline(MAX_LINE_CHARACTERS + 1)
    if not line:
        return None
    if len(line) > MAX_LINE_CHARACTERS and not line.endswith("\n"):
        while True:  # skip the rest of the over-long line
            rest = stream.readline(MAX_LINE_CHARACTERS)
            if not rest or rest.endswith("\n"):
                break
        return "\0too-long"
    return line.rstrip("\r\n")


def _reader(stream, inbox: queue.Queue, running: _Running) -> None:
    while True:
        text = _read_line(stream)
        if text is None:
            inbox.put(_Line("end"))
            return
        if not text.strip():
            continue
        if text == "\0too-long":
            inbox.put(_Line("bad", message=f"The request line is longer than {MAX_LINE_CHARACTERS} characters; "
                                           "requests carry file paths, not data."))
            continue
        try:
            data = json.loads(text)
            data, request_id = split_request_id(data)
            control = control_of(data)
        except (json.JSONDecodeError, RecursionError) as exc:
            inbox.put(_Line("bad", message=f"The request is not valid JSON: {exc}"))
            continue
        except ProtocolError as exc:
            inbox.put(_Line("bad", message=str(exc)))
            continue
        if control == "cancel":
            running.cancel(request_id)
        elif control == "shutdown":
            running.cancel(None)
            inbox.put(_Line("shutdown"))
            return
        else:
            inbox.put(_Line("request", data, request_id))


def serve_persistent(stdin=None, stdout=None, idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT) -> int:
    """Serve requests until the input ends, a ``shutdown`` arrives, no request comes for ``idle_timeout``
    seconds (None or 0: wait forever) or the worker runs out of memory. Returns the process exit code."""
    stdin = stdin or sys.stdin
    emit = event_stream(stdout)
    emit("started", pid=os.getpid(), persistent=True)
    inbox: queue.Queue[_Line] = queue.Queue()
    running = _Running()
    threading.Thread(target=_reader, args=(stdin, inbox, running), name="BrainGen3D-requests", daemon=True).start()
    context = TaskContext()
    while True:
        try:
            line = inbox.get(timeout=idle_timeout or None)
        except queue.Empty:
            logger.info("No request for %.0f s; the warm worker exits to free its memory.", idle_timeout)
            return 0
        if line.kind in ("end", "shutdown"):
            return 0
        if line.kind == "bad":
            emit("error", id=None, kind="invalid_input", message=line.message)
            continue
        if not _run_one(line, emit, running, context):
            return 1


def _run_one(line: _Line, emit, running: _Running, context: TaskContext) -> bool:
    """Run one request; False when the worker must exit (out of memory)."""
    request_id = line.request_id

    def emit_for(name: str, **fields: Any) -> None:
        emit(name, id=request_id, **fields)

    context.cancel = running.start(request_id)
    try:
        outputs = run_task(parse_request(line.data), emit_for, context)
        emit_for("result", outputs=outputs)
        emit_for("done")
    except (ProtocolError, BrainGenError) as exc:
        emit_for("error", kind=exc.kind, message=str(exc))
    except Exception as exc:  # the client must always hear why a request failed
        if is_out_of_memory(exc):
            context.pipelines.release()
            emit_for("error", kind="out_of_memory", message=out_of_memory_message())
            return False
        traceback.print_exc(file=sys.stderr)
        emit_for("error", kind="internal", message=f"{type(exc).__name__}: {exc}")
    finally:
        running.finish()
        context.cancel = None
    return True
