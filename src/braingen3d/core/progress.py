"""Progress reports and cancellation shared by the pipeline, CLI and worker."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

from .errors import CancelledError


@dataclass
class ProgressEvent:
    """One step of work: ``step`` of ``total`` for volume ``volume`` (1-based) of ``num_volumes``."""

    phase: str
    step: int
    total: int
    volume: int
    num_volumes: int
    elapsed_seconds: float
    eta_seconds: float | None

    def to_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """A thread-safe flag; ``check()`` raises ``CancelledError`` once it is set."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise CancelledError("Cancelled by the user; nothing was written.")


class EtaClock:
    """Estimates the remaining time from the mean duration of the work units done so far."""

    def __init__(self, total_units: int) -> None:
        self.total_units = max(1, total_units)
        self.done_units = 0
        self.start = time.perf_counter()

    def tick(self, units: int = 1) -> tuple[float, float | None]:
        self.done_units += units
        elapsed = time.perf_counter() - self.start
        if self.done_units == 0:
            return elapsed, None
        remaining = self.total_units - self.done_units
        return elapsed, max(0.0, elapsed / self.done_units * remaining)
