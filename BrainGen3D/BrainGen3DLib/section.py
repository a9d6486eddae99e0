"""The interface of one part of the BrainGen3D panel.

``BrainGen3D.py`` loads the .ui, creates the sections and forwards these calls to each; a new part
of the panel (e.g. lesion seeds, export) is a new ``PanelSection`` in its own file, plus its widgets
in the .ui.
"""

from __future__ import annotations

from typing import Callable


class PanelSection:
    """Base class of a panel section.

    Args:
        ui: the panel's named child widgets (``slicer.util.childWidgetVariables``).
        logic: the module logic.
        set_busy: call with True/False when this section starts/ends a long operation; the module
            widget then calls ``setBusy`` on every section.

    Attributes:
        owns_busy: True while the long operation in progress is this section's (its button reads
            Cancel); other sections only disable their inputs.
    """

    def __init__(self, ui, logic, set_busy: Callable[[bool], None] | None = None) -> None:
        self.ui = ui
        self.logic = logic
        self._set_busy = set_busy or (lambda busy: None)
        self.owns_busy = False

    def announce_busy(self, busy: bool) -> None:
        """Tell the panel that this section starts (True) or ends (False) a long operation."""
        self.owns_busy = busy
        self._set_busy(busy)

    def setup(self) -> None:
        """Connect widget signals; called once after the .ui is loaded."""

    def setParameterNode(self, parameterNode) -> None:
        """Show ``parameterNode`` (a ``BrainGen3DParameterNode``), or nothing when None."""

    def setBusy(self, busy: bool) -> None:
        """Disable inputs that must not change while a long operation (this section's or another's) runs."""

    def enter(self) -> None:
        """The module panel is shown."""

    def exit(self) -> None:
        """The module panel is hidden (a running operation keeps running)."""

    def cleanup(self) -> None:
        """Stop background work and remove observers; called when the module is closed."""
