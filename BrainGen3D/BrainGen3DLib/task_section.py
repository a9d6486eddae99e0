"""A panel section that runs one background job: a Run button that becomes Cancel, a status line,
an optional progress bar, messages in the shared Log, and error boxes.

The lesion and export sections derive from it; they say which widgets are theirs and how to start
their job, and receive the outcome.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from .dependencies import DependencyError, InstallPlan, ensure_dependencies
from .i18n import _
from .logic import SettingsError
from .process import RunOutcome, RunStatus
from .section import PanelSection
from .widget_helpers import format_duration

logger = logging.getLogger(__name__)


class TaskSection(PanelSection):
    """Base class of sections with one cancellable background job.

    Args:
        ui: the panel's named child widgets.
        logic: the module logic.
        set_busy: see ``PanelSection``.
        confirm: asks a yes/no question (default: ``slicer.util.confirmOkCancelDisplay``).
        show_error: shows an error message (default: ``slicer.util.errorDisplay``).
        check_dependencies: ``check_dependencies(confirm, plan)`` installs what the job needs; returns False if
            the user declined (default: ``ensure_dependencies``).

    Subclasses set ``run_button``, ``run_text``, ``cancel_text``, ``status_label``, ``progress_bar`` (or
    None) and ``input_widgets`` in ``setup``, and implement ``task``, ``start_job`` and ``on_succeeded``.
    """

    run_text = ""
    cancel_text = ""

    def __init__(self, ui, logic, set_busy: Callable[[bool], None] | None = None,
                 confirm: Callable[[str], bool] | None = None, show_error: Callable[[str], None] | None = None,
                 check_dependencies: Callable[..., bool] = ensure_dependencies) -> None:
        super().__init__(ui, logic, set_busy)
        import slicer

        self.confirm = confirm or (lambda text: bool(slicer.util.confirmOkCancelDisplay(text)))
        self.show_error = show_error or (lambda text: slicer.util.errorDisplay(text))
        self.check_dependencies = check_dependencies
        self.run_button = None
        self.status_label = None
        self.progress_bar = None
        self.input_widgets: list = []
        self._panel_busy = False
        self._started = 0.0

    # --- to implement --------------------------------------------------------------------------

    @property
    def task(self):
        """The ``WorkerTask`` this section runs."""
        raise NotImplementedError

    def dependency_plan(self) -> InstallPlan | None:
        """What must be installed first (None: the engine's usual requirements)."""
        return None

    def start_job(self, on_event: Callable[[dict[str, Any]], None], on_finished: Callable[[RunOutcome], None]) -> str:
        """Start the job; returns a log line describing it. Raise ``SettingsError`` for unusable input."""
        raise NotImplementedError

    def on_succeeded(self, outcome: RunOutcome, elapsed: float) -> None:
        """Report a successful run."""

    # --- behaviour -----------------------------------------------------------------------------

    def cleanup(self) -> None:
        if self.task.busy:
            self.task.cancel()

    def setBusy(self, busy: bool) -> None:
        self._panel_busy = busy
        for widget in self.input_widgets:
            widget.setEnabled(not busy)
        self.update_run_button()

    def update_run_button(self, ready: bool = True) -> None:
        """Show Run or Cancel; Run is disabled while another section's job runs or when not ``ready``."""
        running_here = self.task.busy
        self.run_button.setText(self.cancel_text if running_here else self.run_text)
        self.run_button.setEnabled(running_here or (ready and not self._panel_busy))

    def onRunOrCancel(self) -> None:
        if self.task.busy:
            self.append_log(_("Cancelling..."))
            self.task.cancel()
            return
        try:
            if not self.check_dependencies(self.confirm, self.dependency_plan()):
                self.set_status(_("This needs the packages listed; nothing was installed."), error=True)
                return
        except DependencyError as exc:
            self.fail(str(exc))
            return
        if self.progress_bar is not None:
            self.progress_bar.setRange(0, 0)  # busy indicator until the first progress event
        self.set_status(_("Starting..."))
        self._started = time.monotonic()
        self.announce_busy(True)
        try:
            description = self.start_job(self.on_worker_event, self._on_finished)
        except (SettingsError, RuntimeError) as exc:
            self.announce_busy(False)
            self._reset_progress()
            self.fail(str(exc))
            return
        self.append_log(description)
        self.update_run_button()

    def on_worker_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "started":
            self.append_log(_("Process {pid} started.").format(pid=event.get("pid")))
        elif kind == "log":
            self.append_log(str(event.get("message", "")))
        elif kind == "progress":
            self.show_progress(event)

    def show_progress(self, event: dict[str, Any]) -> None:
        try:
            step, total = int(event["step"]), max(1, int(event["total"]))
        except (KeyError, TypeError, ValueError):
            return
        if self.progress_bar is not None:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(step, total))
        text = _("{phase}: step {step}/{total}").format(phase=event.get("phase") or "", step=step, total=total)
        if event.get("eta_seconds") is not None:
            text += ", " + _("about {eta} left").format(eta=format_duration(event.get("eta_seconds")))
        self.set_status(text)

    def _on_finished(self, outcome: RunOutcome) -> None:
        self.announce_busy(False)
        elapsed = time.monotonic() - self._started
        if outcome.status == RunStatus.SUCCEEDED:
            if self.progress_bar is not None:
                self.progress_bar.setRange(0, 1)
                self.progress_bar.setValue(1)
            self.append_log(_("Done in {time}.").format(time=format_duration(elapsed)))
            self.on_succeeded(outcome, elapsed)
        elif outcome.status == RunStatus.CANCELLED:
            self._reset_progress()
            self.set_status(_("Cancelled; nothing was added to the scene."))
            self.append_log(_("Cancelled."))
        else:
            self._reset_progress()
            self.fail(outcome.message)

    def _reset_progress(self) -> None:
        if self.progress_bar is not None:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)

    # --- output --------------------------------------------------------------------------------

    def set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setStyleSheet("color: #b00020;" if error else "")
        self.status_label.setText(text)

    def append_log(self, text: str) -> None:
        self.ui.logTextEdit.appendPlainText(text)

    def fail(self, message: str) -> None:
        self.set_status(message, error=True)
        self.append_log(_("Error: {message}").format(message=message))
        logger.error("BrainGen3D: %s", message)
        self.show_error(message)

