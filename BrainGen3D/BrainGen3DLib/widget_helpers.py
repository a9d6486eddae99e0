"""Small helpers that let panel code run on both PythonQt (Slicer) and PySide6 (tests).

PythonQt exposes Qt properties as attributes (``spinBox.value``) while PySide6 exposes getter methods
(``spinBox.value()``); ``QObject.property(name)`` and setter methods behave the same in both.
"""

from __future__ import annotations

from typing import Callable


def prop(widget, name: str):
    """The Qt property ``name`` of ``widget`` (e.g. ``prop(spinBox, "value")``)."""
    return widget.property(name)


class TextBinding:
    """Keeps a text widget and a parameter in step, writing the widget only when the text differs.

    Slicer's parameter-node GUI connectors rewrite a bound text widget on every parameter change,
    which moves the cursor while the user types (Slicer issue #8620); this binding avoids that.

    Args:
        widget: a QTextEdit (``toPlainText``/``setPlainText``), a widget with a ``currentPath``
            property (ctkPathLineEdit), or an editable QComboBox (its edit text).
        read_parameter: returns the parameter's text.
        write_parameter: stores new text into the parameter.
    """

    def __init__(self, widget, read_parameter: Callable[[], str], write_parameter: Callable[[str], None]) -> None:
        self.widget = widget
        self.read_parameter = read_parameter
        self.write_parameter = write_parameter
        self._kind = ("path" if hasattr(widget, "currentPathChanged")
                      else "combo" if hasattr(widget, "editTextChanged") else "text")
        signal = {"path": "currentPathChanged", "combo": "editTextChanged", "text": "textChanged"}[self._kind]
        getattr(widget, signal).connect(self._on_widget_changed)
        self._updating = False

    def widget_text(self) -> str:
        if self._kind == "path":
            return str(prop(self.widget, "currentPath"))
        if self._kind == "combo":
            return str(prop(self.widget, "currentText"))
        return self.widget.toPlainText()

    def update_widget(self) -> None:
        """Show the parameter's value, unless the widget already shows it."""
        text = self.read_parameter()
        if self.widget_text() == text:
            return
        self._updating = True
        try:
            if self._kind == "path":
                self.widget.setCurrentPath(text)
            elif self._kind == "combo":
                self.widget.setEditText(text)
            else:
                self.widget.setPlainText(text)
        finally:
            self._updating = False

    def _on_widget_changed(self, *args) -> None:
        if not self._updating:
            self.write_parameter(self.widget_text())


def format_duration(seconds: float | None) -> str:
    """``"1:05"`` for 65 s, ``"1:02:03"`` past an hour; ``"?"`` when unknown."""
    if seconds is None or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def set_combo_item_enabled(combo, index: int, enabled: bool) -> None:
    """Enable or grey out one item of a QComboBox (its model is a QStandardItemModel)."""
    item = combo.model().item(index)
    if item is not None:
        item.setEnabled(enabled)
