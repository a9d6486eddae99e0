"""Minimal stand-ins for the MRML widgets the BrainGen3D panel uses (tests only).

``qMRMLWidget``: a QWidget holding an MRML scene (``setMRMLScene``/``mrmlScene``).
``qMRMLNodeComboBox``: lists the scene's nodes of ``nodeTypes`` (subclasses too, unless
``showChildNodeTypes`` is false) that carry every attribute given to ``addAttribute``; ``currentNode``,
``setCurrentNode``, ``currentNodeChanged(node)``. It refreshes on node added/removed events and before
each query. No add/rename/remove actions.
"""

from PySide6 import QtCore, QtWidgets


class qMRMLWidget(QtWidgets.QWidget):
    """Also stands in for the module panel's parent widget, hence ``isEntered`` (always True)."""

    mrmlSceneChanged = QtCore.Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = None
        self.isEntered = True

    def setMRMLScene(self, scene):
        self._scene = scene
        self.mrmlSceneChanged.emit(scene)

    def mrmlScene(self):
        return self._scene


class qMRMLNodeComboBox(QtWidgets.QComboBox):
    currentNodeChanged = QtCore.Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = None
        self._observers = []
        self._node_types = []
        self._attributes = []
        self._none_enabled = False
        self._show_child_node_types = True
        self._refreshing = False
        self.currentIndexChanged.connect(self._on_index_changed)

    def getNodeTypes(self):
        return list(self._node_types)

    def setNodeTypes(self, types):
        self._node_types = list(types)
        self._refresh()

    def getNoneEnabled(self):
        return self._none_enabled

    def setNoneEnabled(self, enabled):
        self._none_enabled = bool(enabled)
        self._refresh()

    def getShowChildNodeTypes(self):
        return self._show_child_node_types

    def setShowChildNodeTypes(self, show):
        self._show_child_node_types = bool(show)
        self._refresh()

    nodeTypes = QtCore.Property("QStringList", getNodeTypes, setNodeTypes)
    showChildNodeTypes = QtCore.Property(bool, getShowChildNodeTypes, setShowChildNodeTypes)
    noneEnabled = QtCore.Property(bool, getNoneEnabled, setNoneEnabled)
    # Accepted from .ui files; the stand-in never offers add/remove/rename actions anyway.
    addEnabled = QtCore.Property(bool, lambda self: False, lambda self, value: None)
    removeEnabled = QtCore.Property(bool, lambda self: False, lambda self, value: None)
    renameEnabled = QtCore.Property(bool, lambda self: False, lambda self, value: None)

    def addAttribute(self, node_type, name, value=None):
        self._attributes.append((node_type, name, value))
        self._refresh()

    def setMRMLScene(self, scene):
        for tag in self._observers:
            self._scene.RemoveObserver(tag)
        self._scene = scene
        self._observers = [scene.AddObserver(event, lambda *_: self._refresh())
                           for event in (scene.NodeAddedEvent, scene.NodeRemovedEvent)] if scene else []
        self._refresh()

    def mrmlScene(self):
        return self._scene

    def _matches(self, node):
        if not any(node.IsA(node_type) for node_type in self._node_types):
            return False
        if not self._show_child_node_types and node.GetClassName() not in self._node_types:
            return False
        for node_type, name, value in self._attributes:
            if node.IsA(node_type) and (node.GetAttribute(name) is None or (value is not None and node.GetAttribute(name) != value)):
                return False
        return True

    def _nodes(self):
        if self._scene is None:
            return []
        return [self._scene.GetNthNode(i) for i in range(self._scene.GetNumberOfNodes())
                if self._matches(self._scene.GetNthNode(i))]

    def _refresh(self):
        current = self.currentNodeID()
        self._refreshing = True
        self.blockSignals(True)
        self.clear()
        if self._none_enabled:
            self.addItem("None", None)
        for node in self._nodes():
            self.addItem(node.GetName(), node.GetID())
        index = self.findData(current) if current else -1
        self.setCurrentIndex(index if index >= 0 else (0 if self.count() else -1))
        self.blockSignals(False)
        self._refreshing = False
        if self.currentNodeID() != current:
            self.currentNodeChanged.emit(self.currentNode())

    def currentNodeID(self):
        return self.currentData() if self.currentIndex() >= 0 else None

    def currentNode(self):
        node_id = self.currentNodeID()
        return self._scene.GetNodeByID(node_id) if node_id and self._scene is not None else None

    def setCurrentNode(self, node):
        self._refresh()
        index = self.findData(node.GetID()) if node is not None else (0 if self._none_enabled else -1)
        self.setCurrentIndex(index)

    def _on_index_changed(self, _index):
        if not self._refreshing:
            self.currentNodeChanged.emit(self.currentNode())


WIDGETS = [qMRMLWidget, qMRMLNodeComboBox]
