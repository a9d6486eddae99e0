"""The segment editor embedded in the lesion section: Paint (with the sphere brush), Draw and Erase only.

It is Slicer's own ``qMRMLSegmentEditorWidget``, limited with ``setEffectNameOrder`` and
``unorderedEffectsVisible = False``; its segmentation and source-volume selectors are hidden because
the section has its own. The sphere brush is the Paint and Erase effects' "Sphere brush" option (their
common parameter ``BrushSphere``); it is switched on by default so that a stroke paints a 3D lesion,
and the user can switch it off in the effect's options.

The editor's parameter node (a ``vtkMRMLSegmentEditorNode``) is created only when the user first paints,
as a singleton, so opening the module adds nothing to the scene. The segment used for inpainting is
the one selected in the editor (its parameter node's selected segment).
"""

from __future__ import annotations

from .scene_import import has_slicer_app

LESION_EFFECTS = ["Paint", "Draw", "Erase"]
EDITOR_NODE_TAG = "BrainGen3DLesionSeeds"
SPHERE_BRUSH_PARAMETER = "BrushSphere"


def _call_first(widget, names: tuple[str, ...], *args) -> None:
    """Call the first method of ``names`` that ``widget`` has (Slicer renamed "master" to "source" in 5.4)."""
    for name in names:
        method = getattr(widget, name, None)
        if method is not None:
            method(*args)
            return


class LesionSegmentEditor:
    """Owns the embedded ``qMRMLSegmentEditorWidget``.

    Args:
        container: a widget with a layout that receives the editor.
    """

    def __init__(self, container) -> None:
        self.container = container
        self.widget = None
        self.scene = None

    def setup(self, scene) -> None:
        """Create the editor widget, limited to the lesion effects."""
        import slicer

        self.scene = scene
        widget = slicer.qMRMLSegmentEditorWidget()
        widget.setMRMLScene(scene)
        widget.setEffectNameOrder(LESION_EFFECTS)
        widget.setUnorderedEffectsVisible(False)
        widget.setSegmentationNodeSelectorVisible(False)
        _call_first(widget, ("setSourceVolumeNodeSelectorVisible", "setMasterVolumeNodeSelectorVisible"), False)
        _call_first(widget, ("setSwitchToSegmentationsButtonVisible",), False)
        self.container.layout().addWidget(widget)
        self.widget = widget

    def editor_node(self, create: bool = True):
        """The editor's parameter node (a scene singleton), made with the sphere brush on if it is new."""
        import slicer

        node = self.scene.GetSingletonNode(EDITOR_NODE_TAG, "vtkMRMLSegmentEditorNode")
        if node is None and create:
            node = slicer.vtkMRMLSegmentEditorNode()
            node.SetSingletonTag(EDITOR_NODE_TAG)
            node.SetAttribute(SPHERE_BRUSH_PARAMETER, "1")
            node = self.scene.AddNode(node)
        return node

    def edit(self, segmentation_node, volume_node) -> None:
        """Show ``segmentation_node`` in the editor, painting on ``volume_node``."""
        node = self.editor_node()
        if self.widget.mrmlSegmentEditorNode() is not node:
            self.widget.setMRMLSegmentEditorNode(node)
        self.widget.setSegmentationNode(segmentation_node)
        _call_first(self.widget, ("setSourceVolumeNode", "setMasterVolumeNode"), volume_node)

    def select_segment(self, segment_id: str) -> None:
        self.editor_node().SetSelectedSegmentID(segment_id)

    def selected_segment_id(self, segmentation_node) -> str | None:
        """The editor's selected segment if it belongs to ``segmentation_node``; else its only segment; else None."""
        segmentation = segmentation_node.GetSegmentation()
        node = self.editor_node(create=False)
        selected = node.GetSelectedSegmentID() if node is not None else None
        if selected and segmentation.GetSegment(selected) is not None:
            return selected
        if segmentation.GetNumberOfSegments() == 1:
            return segmentation.GetNthSegmentID(0)
        return None

    def start_painting(self) -> None:
        self.widget.setActiveEffectByName("Paint")

    def stop_editing(self) -> None:
        """Leave the active effect, so that clicks in the views no longer paint."""
        if self.widget is not None:
            self.widget.setActiveEffectByName("")

    def enter(self) -> None:
        if self.widget is not None and has_slicer_app():
            self.widget.setupViewObservations()

    def exit(self) -> None:
        self.stop_editing()
        if self.widget is not None and has_slicer_app():
            self.widget.removeViewObservations()

    def forget_scene_nodes(self) -> None:
        """Drop references to nodes of a scene that is being closed."""
        if self.widget is not None:
            self.stop_editing()
            self.widget.setSegmentationNode(None)
            self.widget.setMRMLSegmentEditorNode(None)
