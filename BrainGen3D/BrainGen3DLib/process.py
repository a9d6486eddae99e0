"""Background worker processes that speak JSON lines, without blocking the GUI.

``JsonLinesProcess`` starts one child process, writes one JSON request on its stdin and closes it;
reader threads put each stdout/stderr line on a queue, and a waiter thread adds a final ``exit``
event once both streams are closed and the process has ended.

``WorkerRunner`` is the state machine on top (Idle → Running → Importing → Idle, or
Running → Cancelling → Idle). A timer (a QTimer in Slicer) calls ``poll()``, which drains the queue on
the GUI thread and turns events into callbacks, so every MRML change happens on the GUI thread.

The events and error kinds are the engine's worker protocol (``braingen3d.worker.protocol``); this module
imports it only when a worker reports an error, so the panel loads before the engine is installed.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from .i18n import _

logger = logging.getLogger(__name__)

EXIT_EVENT = "exit"
LOG_TAIL_LINES = 20
DEFAULT_KILL_TIMEOUT = 2.0
READER_GRACE_SECONDS = 2.0


def kill_process_tree(popen: subprocess.Popen, timeout: float = DEFAULT_KILL_TIMEOUT) -> None:
    """Stop ``popen`` and every process it started, within about ``timeout`` seconds.

    Terminate first (so the worker may clean up), then kill whatever is alive after half the timeout.
    Descendants are found with psutil when it is installed; on POSIX the child's process group (it
    leads its own session) is killed as a final sweep; on Windows without psutil ``taskkill /T`` is used.

    Args:
        popen: the child process.
        timeout: total seconds to spend.
    """
    try:
        import psutil
    except ImportError:
        psutil = None

    if psutil is None and os.name != "posix" and popen.poll() is None:
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(popen.pid)], capture_output=True, check=False)

    descendants = []
    if psutil is not None:
        try:
            descendants = psutil.Process(popen.pid).children(recursive=True)
        except psutil.Error:
            descendants = []
        for proc in descendants:
            try:
                proc.terminate()
            except psutil.Error:
                pass
    if popen.poll() is None:
        popen.terminate()
    try:
        popen.wait(timeout / 2)
    except subprocess.TimeoutExpired:
        popen.kill()
        try:
            popen.wait(timeout / 4)
        except subprocess.TimeoutExpired:
            logger.error("Worker process %d did not stop after SIGKILL", popen.pid)
    if descendants:
        _, alive = psutil.wait_procs(descendants, timeout=timeout / 8)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=timeout / 8)
    if os.name == "posix":
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def event_from_line(line: str) -> dict[str, Any] | None:
    """The event a worker's stdout line carries; a line that is not an event object becomes a ``log`` event,
    and an empty line None."""
    line = line.strip()
    if not line:
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        event = None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        event = {"event": "log", "level": "info", "message": line, "source": "stdout"}
    return event


class JsonLinesProcess:
    """One child process: a JSON request on stdin, JSON-line events on stdout, free text on stderr.

    Every event is a dict with an ``event`` key. Lines on stdout that are not JSON objects become
    ``log`` events; stderr lines become ``log`` events with ``source: "stderr"``. The last event is
    always ``{"event": "exit", "returncode": N}``.

    Args:
        command: the program and its arguments.
        env: environment of the child (default: this process's).
        cwd: working directory of the child.
    """

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        self.command = list(command)
        self.env = env
        self.cwd = cwd
        self._popen: subprocess.Popen | None = None
        self._queue: queue.Queue = queue.Queue()

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen else None

    def start(self, request: dict[str, Any]) -> None:
        """Start the process, send ``request`` and close stdin.

        Raises:
            OSError: the program cannot be started (e.g. the Python executable is missing).
        """
        kwargs: dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
        else:
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        self._popen = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
            cwd=self.cwd, text=True, encoding="utf-8", errors="replace", bufsize=1, **kwargs,
        )
        readers = [
            threading.Thread(target=self._read_stdout, name="BrainGen3D-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="BrainGen3D-stderr", daemon=True),
        ]
        for reader in readers:
            reader.start()
        threading.Thread(target=self._wait_for_exit, args=(readers,), name="BrainGen3D-waiter", daemon=True).start()
        try:
            self._popen.stdin.write(json.dumps(request) + "\n")
            self._popen.stdin.close()
        except (BrokenPipeError, OSError) as exc:
            # The child died before reading its request; its exit event tells the rest.
            logger.warning("Could not send the request to the worker: %s", exc)

    def _read_stdout(self) -> None:
        for line in self._popen.stdout:
            event = event_from_line(line)
            if event is not None:
                self._queue.put(event)

    def _read_stderr(self) -> None:
        for line in self._popen.stderr:
            line = line.rstrip()
            if line:
                self._queue.put({"event": "log", "level": "debug", "message": line, "source": "stderr"})

    def _wait_for_exit(self, readers: list[threading.Thread]) -> None:
        returncode = self._popen.wait()
        # Normally the streams close with the process; a descendant that escaped the kill could keep
        # them open, so do not wait for them forever.
        for reader in readers:
            reader.join(READER_GRACE_SECONDS)
        self._queue.put({"event": EXIT_EVENT, "returncode": returncode})

    def events(self) -> list[dict[str, Any]]:
        """All events received since the last call, without blocking."""
        drained = []
        while True:
            try:
                drained.append(self._queue.get_nowait())
            except queue.Empty:
                return drained

    def kill_tree(self, timeout: float = DEFAULT_KILL_TIMEOUT) -> None:
        """Stop the process and its descendants (see ``kill_process_tree``)."""
        if self._popen is not None:
            kill_process_tree(self._popen, timeout)


class ProcessState(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    IMPORTING = "importing"
    CANCELLING = "cancelling"


class RunStatus(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class RunOutcome:
    """How one worker run ended.

    Attributes:
        status: succeeded, failed or cancelled.
        message: a user-facing explanation (empty on success).
        error_kind: the worker's error ``kind``, or ``crash``/``protocol``/``import``/``start`` for
            failures seen on this side.
        result: what the import callback returned (e.g. the new MRML nodes).
        returncode: the process's exit code.
        log_tail: the last lines the worker logged, for error reports.
    """

    status: RunStatus
    message: str = ""
    error_kind: str | None = None
    result: Any = None
    returncode: int | None = None
    log_tail: list[str] = field(default_factory=list)


class Timer(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


TimerFactory = Callable[[int, Callable[[], None]], Timer]


def qt_timer_factory(interval_ms: int, callback: Callable[[], None]) -> Timer:
    """A repeating QTimer on the GUI thread (Slicer's flat ``qt`` module)."""
    import qt

    timer = qt.QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(callback)
    return timer


@dataclass
class RunHandlers:
    """Callbacks of one run, all called on the thread that calls ``WorkerRunner.poll``.

    Attributes:
        on_event: every ``started``/``log``/``progress`` event.
        on_result: called once with the ``result`` event's ``outputs`` after a clean exit, in state
            IMPORTING; its return value becomes ``RunOutcome.result``; an exception fails the run.
        on_finished: called once with the outcome, in state IDLE.
    """

    on_event: Callable[[dict[str, Any]], None] | None = None
    on_result: Callable[[list[dict[str, Any]]], Any] | None = None
    on_finished: Callable[[RunOutcome], None] | None = None


class WorkerRunner:
    """Runs one worker at a time and turns its JSON-line events into callbacks.

    Args:
        process_factory: builds the process object from (command, env); inject a stand-in in tests.
        timer_factory: builds a repeating timer calling ``poll``; None means the caller polls
            (``wait`` does so).
        poll_interval_ms: timer interval.
    """

    def __init__(self, process_factory: Callable[..., JsonLinesProcess] = JsonLinesProcess,
                 timer_factory: TimerFactory | None = None, poll_interval_ms: int = 100) -> None:
        self.process_factory = process_factory
        self.timer_factory = timer_factory
        self.poll_interval_ms = poll_interval_ms
        self.state = ProcessState.IDLE
        self.process: JsonLinesProcess | None = None
        self.last_outcome: RunOutcome | None = None
        self._handlers = RunHandlers()
        self._timer: Timer | None = None
        self._reset_run()

    def _reset_run(self) -> None:
        self._outputs: list[dict[str, Any]] | None = None
        self._error: tuple[str, str] | None = None
        self._log_tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)

    @property
    def busy(self) -> bool:
        return self.state != ProcessState.IDLE

    def start(self, command: Sequence[str], request: dict[str, Any], handlers: RunHandlers,
              env: dict[str, str] | None = None) -> None:
        """Start a worker run.

        Args:
            command: the worker command line.
            request: the JSON request written on the worker's stdin.
            handlers: callbacks for this run.
            env: the worker's environment.

        Raises:
            RuntimeError: a run is already in progress.
        """
        if self.busy:
            raise RuntimeError(_("A generation is already running; wait for it or cancel it first."))
        self._reset_run()
        self._handlers = handlers
        self.last_outcome = None
        self.process = self.process_factory(command, env=env)
        try:
            self.process.start(request)
        except OSError as exc:
            self.process = None
            self._finish(RunOutcome(RunStatus.FAILED, _("The worker could not be started ({error}). Check that "
                                                        "Slicer's Python is intact, then try again.").format(error=exc),
                                    error_kind="start"))
            return
        self.state = ProcessState.RUNNING
        if self.timer_factory is not None:
            self._timer = self.timer_factory(self.poll_interval_ms, self.poll)
            self._timer.start()

    def cancel(self, timeout: float = DEFAULT_KILL_TIMEOUT) -> None:
        """Kill the worker and its descendants (returns once they are gone); no result is imported."""
        if self.state != ProcessState.RUNNING or self.process is None:
            return
        self.state = ProcessState.CANCELLING
        self.process.kill_tree(timeout)

    def poll(self) -> None:
        """Handle every event received so far; finish the run after the ``exit`` event."""
        if self.process is None or self.state in (ProcessState.IDLE, ProcessState.IMPORTING):
            return
        for event in self.process.events():
            if event["event"] == EXIT_EVENT:
                self._on_exit(event.get("returncode"))
                return
            self._on_worker_event(event)

    def wait(self, timeout: float, interval: float = 0.05) -> RunOutcome:
        """Poll until the run ends (for scripts and tests; the GUI uses the timer instead).

        Raises:
            TimeoutError: the run did not end within ``timeout`` seconds; it is cancelled first.
        """
        deadline = time.monotonic() + timeout
        while self.busy:
            self.poll()
            if not self.busy:
                break
            if time.monotonic() > deadline:
                self.cancel()
                self.poll()
                raise TimeoutError(f"The worker run did not finish within {timeout} s and was cancelled.")
            time.sleep(interval)
        return self.last_outcome

    def _on_worker_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "log":
            self._log_tail.append(str(event.get("message", "")))
        elif kind == "result":
            outputs = event.get("outputs")
            if isinstance(outputs, list) and all(isinstance(o, dict) and "path" in o for o in outputs):
                self._outputs = outputs
            else:
                self._error = ("protocol", _("The worker sent a malformed result (no list of outputs with paths)."))
            return
        elif kind == "error":
            from braingen3d.worker.protocol import ERROR_KINDS  # torch-free; the engine is installed once a worker runs

            error_kind = event.get("kind") if event.get("kind") in ERROR_KINDS else "internal"
            self._error = (error_kind, str(event.get("message") or _("no message")))
            return
        elif kind == "done":
            return
        if self.state == ProcessState.RUNNING and self._handlers.on_event is not None:
            self._handlers.on_event(event)

    def _on_exit(self, returncode: int | None) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        tail = list(self._log_tail)
        if self.state == ProcessState.CANCELLING:
            outcome = RunOutcome(RunStatus.CANCELLED, _("Cancelled."), "cancelled", returncode=returncode, log_tail=tail)
        elif self._error is not None:
            outcome = RunOutcome(RunStatus.FAILED, self._error[1], self._error[0], returncode=returncode, log_tail=tail)
        elif returncode != 0:
            outcome = RunOutcome(RunStatus.FAILED, crash_message(returncode, tail), "crash", returncode=returncode,
                                 log_tail=tail)
        elif self._outputs is None:
            outcome = RunOutcome(RunStatus.FAILED, _("The worker finished without sending a result."), "protocol",
                                 returncode=returncode, log_tail=tail)
        else:
            self.state = ProcessState.IMPORTING
            try:
                result = self._handlers.on_result(self._outputs) if self._handlers.on_result else self._outputs
                outcome = RunOutcome(RunStatus.SUCCEEDED, result=result, returncode=returncode, log_tail=tail)
            except Exception as exc:  # noqa: BLE001 - any import failure is reported, never raised into Qt
                logger.exception("Importing the worker's result failed")
                outcome = RunOutcome(RunStatus.FAILED, _("The result could not be loaded: {error}").format(error=exc),
                                     "import", returncode=returncode, log_tail=tail)
        self._finish(outcome)

    def _finish(self, outcome: RunOutcome) -> None:
        self.state = ProcessState.IDLE
        self.process = None
        self.last_outcome = outcome
        if self._handlers.on_finished is not None:
            self._handlers.on_finished(outcome)


def crash_message(returncode: int | None, log_tail: list[str]) -> str:
    """A user-facing message for a worker that exited without a result."""
    if returncode is not None and returncode < 0:
        signame = _signal_name(-returncode)
        text = _("The worker process was killed by signal {signal}. This usually means the system ran out of memory: "
                 "generate fewer volumes at once or close other programs.").format(signal=signame)
    else:
        text = _("The worker process stopped unexpectedly (exit code {code}).").format(code=returncode)
    if log_tail:
        text += "\n" + _("Last messages:") + "\n" + "\n".join(log_tail[-5:])
    return text


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
