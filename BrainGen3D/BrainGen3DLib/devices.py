"""Detecting CPU/CUDA in a background process, so the GUI never imports torch."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .i18n import _
from .process import EXIT_EVENT, JsonLinesProcess, TimerFactory

PROBE_SCRIPT = Path(__file__).with_name("device_probe.py")


@dataclass
class DeviceInfo:
    """What the probe found.

    Attributes:
        cuda_available: a CUDA GPU is usable by the installed torch.
        cuda_devices: GPU names.
        torch_version: the installed torch version ("" if unknown).
        cpu_threads: threads torch uses on the CPU.
        error: why detection failed ("" on success).
    """

    cuda_available: bool = False
    cuda_devices: list[str] = field(default_factory=list)
    torch_version: str = ""
    cpu_threads: int = 0
    error: str = ""

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> "DeviceInfo":
        return cls(cuda_available=bool(event.get("cuda_available")), cuda_devices=list(event.get("cuda_devices") or []),
                   torch_version=str(event.get("torch") or ""), cpu_threads=int(event.get("cpu_threads") or 0),
                   error=str(event.get("error") or ""))

    def summary(self) -> str:
        """One line for the panel."""
        if self.error:
            return _("Not detected: {error}").format(error=self.error)
        if self.cuda_available:
            names = ", ".join(self.cuda_devices) or _("CUDA GPU")
            return _("CUDA: {names} (torch {version})").format(names=names, version=self.torch_version)
        return _("CPU only, {threads} threads (torch {version})").format(threads=self.cpu_threads,
                                                                          version=self.torch_version)


class DeviceProbe:
    """Runs ``device_probe.py`` once and reports a ``DeviceInfo``.

    Args:
        command: the probe command (default: this Python running ``device_probe.py``; Slicer passes
            its own Python).
        timer_factory: a repeating timer that polls the process (a QTimer in Slicer); None means the
            caller calls ``poll``.
        process_factory: the process class (injectable).
    """

    def __init__(self, command: Sequence[str] | None = None, timer_factory: TimerFactory | None = None,
                 process_factory: Callable[..., JsonLinesProcess] = JsonLinesProcess) -> None:
        self.command = list(command or [sys.executable, str(PROBE_SCRIPT)])
        self.timer_factory = timer_factory
        self.process_factory = process_factory
        self.result: DeviceInfo | None = None
        self._process: JsonLinesProcess | None = None
        self._timer = None
        self._callback: Callable[[DeviceInfo], None] | None = None
        self._found: DeviceInfo | None = None

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self, on_done: Callable[[DeviceInfo], None]) -> None:
        """Start detection; ``on_done`` receives the result on the polling thread."""
        self._callback = on_done
        self._found = None
        self._process = self.process_factory(self.command)
        try:
            self._process.start({})
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
            if event["event"] == "devices":
                self._found = DeviceInfo.from_event(event)
            elif event["event"] == EXIT_EVENT:
                self._process = None
                self._finish(self._found or DeviceInfo(error=_("the detection process ended without an answer")))
                return

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill_tree()
            self._process = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _finish(self, info: DeviceInfo) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.result = info
        if self._callback is not None:
            self._callback(info)
