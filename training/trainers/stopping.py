"""SIGTERM/SIGINT handling: finish the current step, save a checkpoint, exit cleanly."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

logger = logging.getLogger(__name__)
DUPLICATE_WINDOW_S = 2.0


class StopFlag:
    """Set by SIGTERM or SIGINT; the training loop checks it after every step.

    A second signal more than ``DUPLICATE_WINDOW_S`` seconds after the first kills the process at
    once (Ctrl-C twice), without a checkpoint; one arriving sooner is taken as a duplicate delivery.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal_number: int | None = None
        self._first_at = 0.0
        self._previous: dict[int, object] = {}

    def install(self) -> "StopFlag":
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame) -> None:
        if self.requested:
            if time.monotonic() - self._first_at < DUPLICATE_WINDOW_S:
                return  # the same stop delivered twice (process group and a forwarding parent script)
            signal.signal(signum, signal.SIG_DFL)  # a deliberate second signal: stop now, without a checkpoint
            os.kill(os.getpid(), signum)
            return
        self.requested = True
        self._first_at = time.monotonic()
        self.signal_number = signum
        logger.warning("Received %s: finishing the current step, saving a checkpoint and exiting.",
                       signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        """The conventional exit status of a process stopped by the signal (128 + number), else 0."""
        return 128 + self.signal_number if self.signal_number else 0

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
