"""Detecting CPU/CUDA with the worker's ``probe`` task, so the GUI process never imports torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .i18n import _
from .process import EXIT_EVENT, JsonLinesProcess, TimerFactory

PROBE_REQUEST = {"task": "probe"}


@dataclass
class DeviceInfo:
    """What the probe found.

    Attributes:
        cuda_available: a CUDA GPU is usable by the installed torch.
        cuda_devices: GPU names.
        torch_version: the installed torch version ("" if unknown).
        cpu_threads: threads torch uses on the CPU.
        engine_version: the braingen3d version the worker runs.
        error: why detection failed ("" on success).
    """

    cuda_available: bool = False
    cuda_devices: list[str] = field(default_factory=list)
    torch_version: str = ""
    cpu_threads: int = 0
    engine_version: str = ""
    error: str = ""

    @classmethod
    def from_probe_output(cls, output: dict[str, Any]) -> "DeviceInfo":
        devices = output.get("devices") or {}
        return cls(cuda_available=bool(devices.get("cuda_available")),
                   cuda_devices=[str(name) for name in devices.get("cuda_devices") or []],
                   torch_version=str(devices.get("torch") or ""), cpu_threads=int(devices.get("cpu_threads") or 0),
                   engine_version=str(output.get("engine_version") or ""))

    def summary(self) -> str:
        """One line for the panel."""
        if self.error:
            return _("Not detected: {error}").format(error=self.error)
        if self.cuda_available:
            names = ", ".join(self.cuda_devices) or _("CUDA GPU")
            return _("CUDA: {names} (torch {version})").format(names=names, version=self.torch_version)
        return _("CPU only, {threads} threads (torch {version})").format(threads=self.cpu_threads,
                                                                          version=self.torch_version)


def _failure_reason(stderr_lines: list[str], message: str | None) -> str:
    text = "\n".join(stderr_lines)
    if "No module named" in text and ("braingen3d" in text or "torch" in text):
        return _("the engine is not installed yet; it is installed on the first Generate")
    return message or (stderr_lines[-1] if stderr_lines else _("the probe ended without an answer"))


class DeviceProbe:
    """Runs the worker's ``probe`` task once and reports a ``DeviceInfo``.

    Args:
        command: the worker command line (``<Slicer Python> -m braingen3d.worker``).
        timer_factory: a repeating timer that polls the process (a QTimer in Slicer); None means the
            caller calls ``poll``.
        process_factory: the process class (injectable).
    """

    def __init__(self, command: Sequence[str], timer_factory: TimerFactory | None = None,
                 process_factory: Callable[..., JsonLinesProcess] = JsonLinesProcess) -> None:
        self.command = list(command)
        self.timer_factory = timer_factory
        self.process_factory = process_factory
        self.result: DeviceInfo | None = None
        self._process: JsonLinesProcess | None = None
        self._timer = None
        self._callback: Callable[[DeviceInfo], None] | None = None
        self._reset()

    def _reset(self) -> None:
        self._found: DeviceInfo | None = None
        self._error: str | None = None
        self._stderr: list[str] = []

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self, on_done: Callable[[DeviceInfo], None]) -> None:
        """Start detection; ``on_done`` receives the result on the polling thread."""
        self._callback = on_done
        self._reset()
        self._process = self.process_factory(self.command)
        try:
            self._process.start(PROBE_REQUEST)
        except OSError as exc:
            self._process = None
            self._finish(DeviceInfo(error=str(exc)))
            return
        if self.timer_factory is not None:
            self._timer = self.timer_factory(200, self.poll)
            self._timer.start()

    def poll(self) -> None:
        if self._process is None:
            return
        for event in self._process.events():
            kind = event["event"]
            if kind == "result" and event.get("outputs"):
                self._found = DeviceInfo.from_probe_output(event["outputs"][0])
            elif kind == "error":
                self._error = str(event.get("message") or "")
            elif kind == "log" and event.get("source") == "stderr":
                self._stderr.append(str(event.get("message", "")))
            elif kind == EXIT_EVENT:
                self._process = None
                self._finish(self._found or DeviceInfo(error=_failure_reason(self._stderr, self._error)))
                return

    def stop(self) -> None:
        """Abandon detection (module closed)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._process is not None:
            self._process.kill_tree()
            self._process = None

    def _finish(self, info: DeviceInfo) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.result = info
        if self._callback is not None:
            self._callback(info)
