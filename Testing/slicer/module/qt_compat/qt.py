"""Stand-in for PythonQt's flat ``qt`` module, built from PySide6 (tests only).

In Slicer every Qt class lives in one module, ``qt``. This module re-exports PySide6's QtCore,
QtGui and QtWidgets names, plus a ``QUiLoader`` that knows the CTK/MRML stand-in widgets, so module
code written for PythonQt (``qt.QTimer``, ``qt.QPushButton``, ``slicer.util.loadUI``) runs unchanged.
It also applies ``pyside_refcount.immortalise_singletons`` (a PySide6 6.12 bug on Python 3.11).
"""

from pyside_refcount import immortalise_singletons

immortalise_singletons()

from PySide6.QtCore import *  # noqa: E402,F401,F403
from PySide6.QtGui import *  # noqa: E402,F401,F403
from PySide6.QtUiTools import QUiLoader as _PySideUiLoader  # noqa: E402
from PySide6.QtWidgets import *  # noqa: E402,F401,F403


class QUiLoader(_PySideUiLoader):
    """A ``QUiLoader`` that can build the stand-in CTK and MRML widgets named in .ui files."""

    def __init__(self, parent=None):
        super().__init__(parent)
        import ctk
        import mrml_widgets

        for widget_class in ctk.WIDGETS + mrml_widgets.WIDGETS:
            self.registerCustomWidget(widget_class)
