"""One engine worker kept alive between runs, behind the ``JsonLinesProcess`` interface of ``process.py``.

The first run starts ``<python> -m braingen3d.worker --persistent``; later runs send their request to the
same process, which still has torch imported and the bundle loaded. ``WarmProcess`` is what a
``WorkerRunner`` sees for one run: its events end with a synthesised ``exit`` event once the request's
``done`` (exit code 0) or ``error`` (1) arrives, so the runner's state machine is the same as for a
one-shot worker.

- **Cancel** sends ``{"control": "cancel"}``; the worker stops at its next step boundary and stays warm.
  If it does not answer within the timeout it is killed, and the next run starts a fresh one.
- **Crash** (the process ends during a run): the run fails with the exit code, the next run starts a
  fresh worker.
- **Hang**: no event from the worker for ``hang_seconds`` during a run: the worker is killed and the
  run fails with a message saying so.
- **Another bundle or device** than the worker has loaded: the worker is shut down and a new one started.
- **Idle**: the worker exits by itself after ``idle_seconds`` without a request, freeing its memory.

The panel's scene is only touched by the runner after a successful run, so none of these changes it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import subprocess
import threading
import time
from typing import Any, Sequence

from .i18n import _
from .process import DEFAULT_KILL_TIMEOUT, EXIT_EVENT, READER_GRACE_SECONDS, event_from_line, kill_process_tree

logger = logging.getLogger(__name__)

HANG_SECONDS = 300.0
"""A run fails when its worker sends nothing for this long (progress comes every step; loading a bundle on
a slow CPU takes well under a minute)."""
IDLE_SECONDS = 600.0
"""A warm worker without a request for this long exits by itself."""
SHUTDOWN_SECONDS = 5.0
WORKER_MODULE = "braingen3d.worker"
MODEL_TASKS = ("generate", "inpaint")


def is_engine_worker(command: Sequence[str]) -> bool:
    """Whether ``command`` runs the engine's worker module (which speaks the warm protocol)."""
    command = list(command)
    return len(command) >= 3 and command[-2:] == ["-m", WORKER_MODULE]


class WarmWorkerSession:
    """The long-lived worker process and the events it sends, routed to the run whose ``id`` they carry.

    Args:
        command: the one-shot worker command (``<python> -m braingen3d.worker``); ``--persistent`` is added.
        env: the worker's environment.
        idle_seconds: passed as ``--idle-timeout``.
    """

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None,
                 idle_seconds: float = IDLE_SECONDS) -> None:
        self.command = [*command, "--persistent", "--idle-timeout", str(idle_seconds)]
        self.env = env
        self.model_key: tuple[Any, Any] | None = None
        self.last_event_time = time.monotonic()
        self._popen: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._runs: dict[int, tuple[subprocess.Popen, queue.Queue]] = {}  # run id -> (its process, its events)
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def ensure(self, model_key: tuple[Any, Any] | None) -> bool:
        """A running worker for ``model_key`` ((bundle, device), or None for tasks without a model); returns
        whether a new process was started.

        Raises:
            OSError: the worker cannot be started.
        """
        if self.alive() and model_key is not None and self.model_key is not None and model_key != self.model_key:
            logger.info("Another bundle or device was chosen; restarting the BrainGen3D worker.")
            self.shutdown()
        started = False
        if not self.alive():
            self._start()
            self.model_key = None
            started = True
        if model_key is not None:
            self.model_key = model_key
        return started

    def _start(self) -> None:
        kwargs: dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
        else:
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        popen = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=self.env, text=True, encoding="utf-8", errors="replace", bufsize=1, **kwargs)
        self._popen = popen
        self.last_event_time = time.monotonic()
        readers = [threading.Thread(target=self._read_stdout, args=(popen,), daemon=True, name="BrainGen3D-warm-out"),
                   threading.Thread(target=self._read_stderr, args=(popen,), daemon=True, name="BrainGen3D-warm-err")]
        for reader in readers:
            reader.start()
        threading.Thread(target=self._wait_for_exit, args=(popen, readers), daemon=True, name="BrainGen3D-warm").start()
        logger.info("Started the BrainGen3D warm worker (pid %d).", popen.pid)

    # --- runs ---------------------------------------------------------------------------------------------
    def open_run(self) -> tuple[int, queue.Queue]:
        """A new run on the current process: its id and the queue its events arrive in."""
        run_id = next(self._ids)
        events: queue.Queue = queue.Queue()
        with self._lock:
            self._runs[run_id] = (self._popen, events)
        returncode = self._popen.poll() if self._popen is not None else -1
        if returncode is not None:  # it died before the run opened: its exit event would never come
            events.put({"event": EXIT_EVENT, "returncode": returncode, "worker_exit": True})
        return run_id, events

    def close_run(self, run_id: int) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def send(self, message: dict[str, Any]) -> None:
        """Write one line to the worker (a worker that just died shows up as its exit event)."""
        try:
            self._popen.stdin.write(json.dumps(message) + "\n")
            self._popen.stdin.flush()
        except (BrokenPipeError, OSError, AttributeError) as exc:
            logger.warning("Could not send to the BrainGen3D worker: %s", exc)

    def _runs_of(self, popen: subprocess.Popen) -> dict[int, queue.Queue]:
        with self._lock:
            return {run_id: events for run_id, (owner, events) in self._runs.items() if owner is popen}

    def _route(self, event: dict[str, Any], popen: subprocess.Popen) -> None:
        """Hand an event of ``popen`` to the run it names (a replaced process's events reach only its own runs)."""
        self.last_event_time = time.monotonic()
        runs = self._runs_of(popen)
        run_id = event.get("id")
        if run_id in runs:
            runs[run_id].put(event)
        elif run_id is None and runs:
            runs[min(runs)].put(event)  # logs without an id belong to the oldest open run

    def _read_stdout(self, popen: subprocess.Popen) -> None:
        for line in popen.stdout:
            event = event_from_line(line)
            if event is None:
                continue
            if event["event"] == "started":  # each run gets its own (WarmProcess.start)
                self.last_event_time = time.monotonic()
                continue
            self._route(event, popen)

    def _read_stderr(self, popen: subprocess.Popen) -> None:
        for line in popen.stderr:
            line = line.rstrip()
            if line:
                self._route({"event": "log", "level": "debug", "message": line, "source": "stderr"}, popen)

    def _wait_for_exit(self, popen: subprocess.Popen, readers: list[threading.Thread]) -> None:
        returncode = popen.wait()
        for reader in readers:
            reader.join(READER_GRACE_SECONDS)
        for events in self._runs_of(popen).values():
            events.put({"event": EXIT_EVENT, "returncode": returncode, "worker_exit": True})

    # --- stopping -----------------------------------------------------------------------------------------
    def kill(self, timeout: float = DEFAULT_KILL_TIMEOUT) -> None:
        """Stop the worker and its descendants now."""
        if self._popen is not None and self._popen.poll() is None:
            kill_process_tree(self._popen, timeout)

    def shutdown(self, timeout: float = SHUTDOWN_SECONDS) -> None:
        """Ask the worker to exit; kill it if it has not within ``timeout`` seconds."""
        if not self.alive():
            return
        self.send({"control": "shutdown"})
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


_SESSIONS: dict[tuple[str, ...], WarmWorkerSession] = {}
_SESSIONS_LOCK = threading.Lock()


def session_for(command: Sequence[str], env: dict[str, str] | None = None) -> WarmWorkerSession:
    """The shared warm worker of ``command`` (one per command line in this Slicer session)."""
    key = tuple(command)
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = WarmWorkerSession(command, env)
        elif env is not None:
            session.env = env
        return session


def shutdown_warm_workers() -> None:
    """Stop every warm worker (module cleanup, application exit)."""
    with _SESSIONS_LOCK:
        sessions = list(_SESSIONS.values())
        _SESSIONS.clear()
    for session in sessions:
        session.shutdown()


class WarmProcess:
    """One run on the shared warm worker, with ``JsonLinesProcess``'s interface (``process_factory`` of a
    ``WorkerRunner``).

    Args:
        command: the one-shot worker command (``<python> -m braingen3d.worker``).
        env: the worker's environment.
        hang_seconds: fail the run when the worker sends nothing for this long.
    """

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None,
                 hang_seconds: float = HANG_SECONDS) -> None:
        self.session = session_for(command, env)
        self.hang_seconds = hang_seconds
        self._run_id: int | None = None
        self._events: queue.Queue | None = None
        self._held: list[dict[str, Any]] = []
        self._returncode: int | None = None
        self._ended = False
        self._stepping = False  # a progress event came: the worker checks the cancel flag at every step

    @property
    def pid(self) -> int | None:
        return self.session.pid

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def start(self, request: dict[str, Any]) -> None:
        """Send ``request`` to the warm worker, starting (or restarting) it when needed.

        Raises:
            OSError: the worker cannot be started.
        """
        model_key = (request.get("bundle"), request.get("device")) if request.get("task") in MODEL_TASKS else None
        started = self.session.ensure(model_key)
        self._run_id, self._events = self.session.open_run()
        # The panel shows "Worker started" on this event; ``warm`` says the worker was already running.
        self._events.put({"event": "started", "pid": self.session.pid, "warm": not started})
        self.session.send({**request, "id": self._run_id})

    def events(self) -> list[dict[str, Any]]:
        """The run's events since the last call; the last one is an ``exit`` event once the run has ended."""
        if self._ended or self._events is None:
            return []
        drained, self._held = self._held, []
        while True:
            try:
                drained.append(self._events.get_nowait())
            except queue.Empty:
                break
        if not drained and time.monotonic() - self.session.last_event_time > self.hang_seconds:
            self.session.kill()
            drained = [{"event": "error", "kind": "internal", "message": _(
                "The worker sent nothing for {seconds:.0f} s and was stopped. The next run starts a fresh worker; "
                "if this happens again, look at the log for the last step it reached.").format(seconds=self.hang_seconds)}]
            return self._end(drained, 1)
        for index, event in enumerate(drained):
            kind = event["event"]
            self._stepping = self._stepping or kind == "progress"
            if kind == EXIT_EVENT:
                return self._end(drained[:index], event.get("returncode"))
            if kind in ("done", "error") and event.get("id") == self._run_id:
                return self._end(drained[: index + 1], 0 if kind == "done" else 1)
        return drained

    def _end(self, events: list[dict[str, Any]], returncode: int | None) -> list[dict[str, Any]]:
        self._ended = True
        self._returncode = returncode
        self.session.close_run(self._run_id)
        return [*events, {"event": EXIT_EVENT, "returncode": returncode}]

    def kill_tree(self, timeout: float = DEFAULT_KILL_TIMEOUT) -> None:
        """Cancel the run: once it is stepping, the worker stops at its next step and stays warm (killed if it does
        not answer in time); before that (importing, loading the bundle) nothing can interrupt it, so it is killed."""
        if self._ended or self._events is None:
            return
        if not self._stepping:
            self.session.kill(timeout)
            return
        self.session.send({"control": "cancel", "id": self._run_id})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self._events.get(timeout=0.05)
            except queue.Empty:
                continue
            self._held.append(event)
            if event["event"] == EXIT_EVENT or (event["event"] in ("done", "error") and event.get("id") == self._run_id):
                return
        logger.warning("The BrainGen3D worker did not stop within %.1f s of the cancel; killing it.", timeout)
        self.session.kill(timeout)


def worker_process(command: Sequence[str], env: dict[str, str] | None = None):
    """The ``process_factory`` of the module's runners: the warm worker for the engine's worker module, a
    one-shot ``JsonLinesProcess`` for any other command (e.g. a test stand-in)."""
    from .process import JsonLinesProcess

    return WarmProcess(command, env) if is_engine_worker(command) else JsonLinesProcess(command, env=env)
