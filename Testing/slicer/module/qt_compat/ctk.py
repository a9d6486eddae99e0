"""Minimal stand-ins for the CTK widgets the BrainGen3D panel uses (tests only).

Only what the module touches is provided: ``ctkCollapsibleButton`` (``text``, ``collapsed``,
``contentsCollapsed``) and ``ctkPathLineEdit`` (``currentPath``, ``setCurrentPath``,
``currentPathChanged``, ``filters``). Qt properties make them settable from .ui files; Python
properties mirror PythonQt's attribute-style access (``button.collapsed = True``).
"""

from PySide6 import QtCore, QtWidgets


class ctkCollapsibleButton(QtWidgets.QWidget):
    """A header button that hides or shows the widget's contents (its layout's widgets)."""

    contentsCollapsed = QtCore.Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._collapsed = False
        self._header = QtWidgets.QToolButton(self)
        self._header.setObjectName("")
        self._header.setCheckable(True)
        self._header.setChecked(True)
        self._header.setToolButtonStyle(QtCore.Qt.ToolButtonTextBesideIcon)
        self._header.setArrowType(QtCore.Qt.DownArrow)
        self._header.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Fixed)
        self._header.toggled.connect(lambda checked: self.setCollapsed(not checked))
        self.setContentsMargins(0, self._header.sizeHint().height() + 2, 0, 0)

    def resizeEvent(self, event):
        self._header.setGeometry(0, 0, self.width(), self._header.sizeHint().height())
        super().resizeEvent(event)

    def getText(self):
        return self._header.text()

    def setText(self, text):
        self._header.setText(text)

    def isCollapsed(self):
        return self._collapsed

    def setCollapsed(self, collapsed):
        collapsed = bool(collapsed)
        self._header.setChecked(not collapsed)
        self._header.setArrowType(QtCore.Qt.RightArrow if collapsed else QtCore.Qt.DownArrow)
        for child in self.findChildren(QtWidgets.QWidget, options=QtCore.Qt.FindDirectChildrenOnly):
            if child is not self._header:
                child.setVisible(not collapsed)
        if collapsed != self._collapsed:
            self._collapsed = collapsed
            self.contentsCollapsed.emit(collapsed)

    def childEvent(self, event):
        # .ui files set "collapsed" before the contents exist; hide contents added later too.
        super().childEvent(event)
        child = event.child()
        if event.added() and self._collapsed and child is not self._header and isinstance(child, QtWidgets.QWidget):
            child.setVisible(False)

    text = QtCore.Property(str, getText, setText)
    collapsed = QtCore.Property(bool, isCollapsed, setCollapsed)


class ctkPathLineEdit(QtWidgets.QWidget):
    """A line edit plus a browse button, holding one file-system path."""

    Dirs, Files, Drives, NoDot, NoDotDot, Readable, Writable, Executable = 1, 2, 4, 8, 16, 32, 64, 128
    currentPathChanged = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._filters = self.Files
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._edit = QtWidgets.QLineEdit(self)
        self._browse = QtWidgets.QToolButton(self)
        self._browse.setText("...")
        layout.addWidget(self._edit)
        layout.addWidget(self._browse)
        self._edit.textChanged.connect(self.currentPathChanged.emit)

    def getCurrentPath(self):
        return self._edit.text()

    def setCurrentPath(self, path):
        self._edit.setText(str(path))

    def getFilters(self):
        return self._filters

    def setFilters(self, filters):
        self._filters = int(filters)

    currentPath = QtCore.Property(str, getCurrentPath, setCurrentPath)
    filters = QtCore.Property(int, getFilters, setFilters)


WIDGETS = [ctkCollapsibleButton, ctkPathLineEdit]
