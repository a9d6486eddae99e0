"""A minimal stand-in for Slicer's ``qMRMLSegmentEditorWidget`` (tests only).

slicer-core has the MRML side of segment editing (``vtkMRMLSegmentEditorNode``, segmentations) but not
the Qt widget. This stand-in keeps the methods the BrainGen3D lesion section calls, with the real
widget's names, and records what they set so that tests can check the configuration:

* ``setMRMLScene``, ``setMRMLSegmentEditorNode`` / ``mrmlSegmentEditorNode``,
  ``setSegmentationNode`` / ``segmentationNode``, ``setSourceVolumeNode`` / ``sourceVolumeNode``;
* ``setEffectNameOrder`` / ``effectNameOrder``, ``setUnorderedEffectsVisible`` /
  ``unorderedEffectsVisible``: the effect buttons shown are the ordered names (plus Slicer's other
  built-in effects only when unordered effects are visible);
* ``setSegmentationNodeSelectorVisible``, ``setSourceVolumeNodeSelectorVisible``,
  ``setSwitchToSegmentationsButtonVisible``;
* ``setActiveEffectByName`` / ``activeEffectName`` (the real widget returns an effect object from
  ``activeEffect()``; tests read the name), ``setupViewObservations``, ``removeViewObservations``.

It cannot paint: tests "paint" by writing a sphere into the segment's labelmap, as the sphere brush would.
The selected segment lives in the editor node (``SetSelectedSegmentID``), as in Slicer.
"""

from PySide6 import QtWidgets

# Slicer's core effects; the real widget also lists effects registered by extensions.
BUILT_IN_EFFECTS = ["Paint", "Draw", "Erase", "Level tracing", "Grow from seeds", "Fill between slices", "Margin",
                    "Hollow", "Smoothing", "Scissors", "Islands", "Logical operators", "Threshold", "Mask volume"]


class qMRMLSegmentEditorWidget(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = None
        self._editor_node = None
        self._segmentation = None
        self._source_volume = None
        self._order = []
        self._unordered_visible = True
        self.active_effect = ""
        self.selectors_visible = {"segmentation": True, "source volume": True, "switch to Segmentations": True}
        self.view_observations = False
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._buttons = QtWidgets.QHBoxLayout()
        layout.addLayout(self._buttons)
        self._segment_label = QtWidgets.QLabel(self)
        layout.addWidget(self._segment_label)
        self._update_buttons()

    def setMRMLScene(self, scene):
        self._scene = scene

    def setMRMLSegmentEditorNode(self, node):
        self._editor_node = node

    def mrmlSegmentEditorNode(self):
        return self._editor_node

    def setSegmentationNode(self, node):
        self._segmentation = node
        self._update_segments()

    def segmentationNode(self):
        return self._segmentation

    def setSourceVolumeNode(self, node):
        self._source_volume = node

    def sourceVolumeNode(self):
        return self._source_volume

    def setEffectNameOrder(self, names):
        self._order = list(names)
        self._update_buttons()

    def effectNameOrder(self):
        return list(self._order)

    def setUnorderedEffectsVisible(self, visible):
        self._unordered_visible = bool(visible)
        self._update_buttons()

    def unorderedEffectsVisible(self):
        return self._unordered_visible

    def availableEffectNames(self):
        return list(BUILT_IN_EFFECTS)

    def visibleEffectNames(self):
        """What the effect toolbar shows (the real widget's effectCount/effectByIndex)."""
        extra = [name for name in BUILT_IN_EFFECTS if name not in self._order] if self._unordered_visible else []
        return [name for name in self._order if name in BUILT_IN_EFFECTS] + extra

    def setSegmentationNodeSelectorVisible(self, visible):
        self.selectors_visible["segmentation"] = bool(visible)

    def setSourceVolumeNodeSelectorVisible(self, visible):
        self.selectors_visible["source volume"] = bool(visible)

    def setSwitchToSegmentationsButtonVisible(self, visible):
        self.selectors_visible["switch to Segmentations"] = bool(visible)

    def setActiveEffectByName(self, name):
        self.active_effect = name if name in self.visibleEffectNames() else ""

    def activeEffectName(self):
        return self.active_effect

    def setupViewObservations(self):
        self.view_observations = True

    def removeViewObservations(self):
        self.view_observations = False

    def _update_buttons(self):
        while self._buttons.count():
            item = self._buttons.takeAt(0)
            if item.widget() is not None:
                item.widget().setParent(None)  # at once: offscreen tests never reach deferred deletion
        for name in self.visibleEffectNames():
            button = QtWidgets.QToolButton(self)
            button.setText(name)
            self._buttons.addWidget(button)
        self._buttons.addStretch(1)

    def _update_segments(self):
        if self._segmentation is None:
            self._segment_label.setText("")
            return
        segmentation = self._segmentation.GetSegmentation()
        names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
        self._segment_label.setText("Segments: " + ", ".join(names))


WIDGETS = [qMRMLSegmentEditorWidget]
