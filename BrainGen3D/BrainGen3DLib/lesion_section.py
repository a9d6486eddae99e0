"""The "Lesion seeds" part of the panel: choose a volume, mark where the lesion goes (an ROI box or a
painted segment), describe it, and Inpaint. The result is a new volume and a new segmentation; the
chosen volume is left as it was, so undoing is deleting the two new nodes."""

from __future__ import annotations

import random
from typing import Any, Callable

import numpy as np
import vtk

from .i18n import _
from .lesion_editor import LesionSegmentEditor
from .lesion_logic import LESION_PROMPT_PRESETS
from .lesion_mask import LesionRegion, RegionError
from .logic import SettingsError
from .parameters import MAX_PANEL_SEED, LesionRegionKind, inpaint_settings
from .process import RunOutcome
from .provenance import node_provenance
from .scene_import import has_slicer_app
from .task_section import TaskSection
from .volume_geometry import GeometryError, ijk_to_ras, node_to_world, voxel_shape
from .widget_helpers import TextBinding, format_duration

NEW_ROI_SIZE_MM = 15.0
SEED_SEGMENT_ID = "lesion_seed"
SEED_SEGMENT_COLOR = (0.94, 0.78, 0.19)


def volume_centre_and_axes(volume_node) -> tuple[np.ndarray, np.ndarray]:
    """World RAS of the volume's centre voxel, and a rotation whose columns follow the volume's axes.

    A left-handed grid (one axis flipped) has its last axis reversed, so that the result is a rotation, as
    an ROI's orientation must be; a box is symmetric, so this does not move it.
    """
    index_to_world = node_to_world(volume_node) @ ijk_to_ras(volume_node)
    centre_index = (np.asarray(voxel_shape(volume_node)) - 1) / 2.0
    centre = index_to_world[:3, :3] @ centre_index + index_to_world[:3, 3]
    axes = index_to_world[:3, :3] / np.linalg.norm(index_to_world[:3, :3], axis=0)
    if np.linalg.det(axes) < 0:
        axes[:, 2] *= -1
    return centre, axes


def contrast_summary(provenance: dict[str, Any]) -> str:
    """A sentence on the contrast check of an inpainting's provenance, or "" when nothing was checked."""
    check = provenance.get("contrast_check") or {}
    attempts = check.get("attempts") or []
    used = next((a for a in attempts if a.get("seed") == provenance.get("seed")), None)
    if not check.get("checked") or used is None or used.get("ratio") is None:
        return ""
    if check.get("passed"):
        return " " + _("The lesion is {ratio:.2f}x its surroundings (asked: {kind}, at least {margin:.2f}x), "
                       "attempt {n} of {max}.").format(ratio=used["ratio"], kind=check.get("requested"),
                                                       margin=check.get("min_ratio", 0.0), n=len(attempts),
                                                       max=provenance.get("max_attempts", len(attempts)))
    return " " + _("Warning: no sample reached the {kind} contrast asked for ({margin:.2f}x) in {n} attempts; the "
                   "closest ({ratio:.2f}x, seed {seed}) was kept. Try another seed or a larger region.").format(
        kind=check.get("requested"), margin=check.get("min_ratio", 0.0), n=len(attempts), ratio=used["ratio"],
        seed=provenance.get("seed"))


def add_roi_on_volume(scene, volume_node, size_mm: float = NEW_ROI_SIZE_MM):
    """A new box ROI of ``size_mm`` at the volume's centre, aligned with the volume's axes."""
    centre, axes = volume_centre_and_axes(volume_node)
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", scene.GenerateUniqueName(_("Lesion ROI")))
    roi.CreateDefaultDisplayNodes()
    display = roi.GetDisplayNode()
    if display is not None:
        display.SetHandlesInteractive(True)  # move, rotate and resize handles in the views
    object_to_node = vtk.vtkMatrix4x4()
    for row in range(3):
        for column in range(3):
            object_to_node.SetElement(row, column, float(axes[row, column]))
        object_to_node.SetElement(row, 3, float(centre[row]))
    roi.GetObjectToNodeMatrix().DeepCopy(object_to_node)
    roi.SetSize(size_mm, size_mm, size_mm)
    return roi


def add_seed_segmentation(scene, volume_node):
    """A new segmentation on the volume's grid with one empty segment to paint the lesion region into."""
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(_("Lesion seeds")))
    node.CreateDefaultDisplayNodes()
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    node.GetSegmentation().AddEmptySegment(SEED_SEGMENT_ID, _("Lesion seed"), list(SEED_SEGMENT_COLOR))
    return node


class LesionSection(TaskSection):
    """Lesion seeds: region, prompt, Inpaint/Cancel, progress and result.

    Args: see ``TaskSection``; ``logic.lesions`` is the ``LesionInpaintLogic`` it runs.
    """

    def __init__(self, ui, logic, **kwargs) -> None:
        super().__init__(ui, logic, **kwargs)
        self.run_text, self.cancel_text = _("Inpaint lesion"), _("Cancel")
        self.editor = LesionSegmentEditor(ui.lesionSegmentEditorFrame)
        self._parameterNode = None
        self._observerTag = None
        self._promptBinding = None

    @property
    def task(self):
        return self.logic.lesions

    # --- set-up --------------------------------------------------------------------------------

    def setup(self) -> None:
        import slicer

        ui = self.ui
        self.run_button, self.status_label, self.progress_bar = ui.inpaintButton, ui.lesionStatusLabel, \
            ui.lesionProgressBar
        self.input_widgets = [ui.lesionInputsWidget]
        for selector in (ui.lesionVolumeSelector, ui.lesionROISelector, ui.lesionSegmentationSelector):
            selector.setMRMLScene(slicer.mrmlScene)
        for preset in LESION_PROMPT_PRESETS:
            ui.lesionPromptComboBox.addItem(preset)
        self._promptBinding = TextBinding(ui.lesionPromptComboBox, lambda: self._parameterNode.lesionPrompt,
                                          self._setPrompt)
        ui.inpaintButton.clicked.connect(self.onRunOrCancel)
        ui.lesionNewROIButton.clicked.connect(self.onNewROI)
        ui.lesionNewSegmentationButton.clicked.connect(self.onNewSegmentation)
        ui.lesionRandomSeedButton.clicked.connect(self.onRandomSeed)
        self.editor.setup(slicer.mrmlScene)
        self._reset_progress()
        self.status_label.setText("")

    def _setPrompt(self, text: str) -> None:
        if self._parameterNode is not None:
            self._parameterNode.lesionPrompt = text

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode is not None and self._observerTag is not None:
            self._parameterNode.RemoveObserver(self._observerTag)
            self._observerTag = None
        if parameterNode is None:
            self.editor.forget_scene_nodes()
        self._parameterNode = parameterNode
        if parameterNode is not None:
            self._observerTag = parameterNode.AddObserver(vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self.updateGUIFromParameterNode()

    def cleanup(self) -> None:
        super().cleanup()
        self.editor.exit()
        self.setParameterNode(None)

    def enter(self) -> None:
        self.editor.enter()

    def exit(self) -> None:
        self.editor.exit()

    # --- parameter node → GUI ------------------------------------------------------------------

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        self.updateGUIFromParameterNode()

    def updateGUIFromParameterNode(self) -> None:
        parameters = self._parameterNode
        if parameters is None:
            return
        self._promptBinding.update_widget()
        painting = parameters.lesionRegionKind == LesionRegionKind.SEGMENT
        self.ui.lesionROIWidget.setVisible(not painting)
        self.ui.lesionSegmentWidget.setVisible(painting)
        volume = parameters.lesionVolume
        self.ui.lesionNewROIButton.setEnabled(volume is not None)
        self.ui.lesionNewSegmentationButton.setEnabled(volume is not None)
        segmentation = parameters.lesionSegmentation
        if painting and segmentation is not None and volume is not None:
            self.editor.edit(segmentation, volume)
        else:
            self.editor.stop_editing()
        self.update_run_button()

    def update_run_button(self, ready: bool = True) -> None:
        parameters = self._parameterNode
        super().update_run_button(parameters is not None and parameters.lesionVolume is not None)

    # --- actions -------------------------------------------------------------------------------

    def onRandomSeed(self) -> None:
        if self._parameterNode is not None:
            self._parameterNode.lesionSeed = random.randint(0, MAX_PANEL_SEED)

    def onNewROI(self) -> None:
        volume = self._parameterNode.lesionVolume if self._parameterNode is not None else None
        if volume is None:
            return
        try:
            roi = add_roi_on_volume(self.logic.lesions.scene, volume)
        except GeometryError as exc:
            self.fail(str(exc))
            return
        was_modifying = self._parameterNode.StartModify()
        self._parameterNode.lesionRegionKind = LesionRegionKind.ROI
        self._parameterNode.lesionROI = roi
        self._parameterNode.EndModify(was_modifying)
        if has_slicer_app():
            import slicer

            slicer.modules.markups.logic().JumpSlicesToLocation(*roi.GetCenterWorld(), True)
        self.set_status(_("Added '{name}' at the centre of the volume: drag its handles in the views to place and "
                          "size the lesion.").format(name=roi.GetName()))

    def onNewSegmentation(self) -> None:
        volume = self._parameterNode.lesionVolume if self._parameterNode is not None else None
        if volume is None:
            return
        segmentation = add_seed_segmentation(self.logic.lesions.scene, volume)
        was_modifying = self._parameterNode.StartModify()
        self._parameterNode.lesionRegionKind = LesionRegionKind.SEGMENT
        self._parameterNode.lesionSegmentation = segmentation
        self._parameterNode.EndModify(was_modifying)
        self.editor.edit(segmentation, volume)
        self.editor.select_segment(SEED_SEGMENT_ID)
        self.editor.start_painting()
        self.set_status(_("Paint the lesion region in the slice views (sphere brush: it paints in 3D)."))

    def region(self) -> LesionRegion:
        """The lesion region the panel shows."""
        parameters = self._parameterNode
        if parameters.lesionRegionKind == LesionRegionKind.ROI:
            if parameters.lesionROI is None:
                raise RegionError(_("No ROI is chosen. Press 'New ROI', then drag the box onto the lesion site."))
            return LesionRegion(roi=parameters.lesionROI)
        segmentation = parameters.lesionSegmentation
        if segmentation is None:
            raise RegionError(_("No segmentation is chosen. Press 'New segmentation' and paint the lesion region."))
        segment_id = self.editor.selected_segment_id(segmentation)
        if segment_id is None:
            raise RegionError(_("Select the segment to use in the segment editor (the segmentation has several)."))
        return LesionRegion(segmentation=segmentation, segment_id=segment_id)

    def start_job(self, on_event: Callable[[dict[str, Any]], None], on_finished: Callable[[RunOutcome], None]) -> str:
        if self._parameterNode is None:
            raise SettingsError(_("The panel is not ready yet."))
        self.editor.stop_editing()
        settings = inpaint_settings(self._parameterNode)
        volume, region = self._parameterNode.lesionVolume, self.region()
        self.task.inpaint(volume, region, settings, on_event=on_event, on_finished=on_finished)
        return _("Inpainting '{volume}' in {region}: \"{prompt}\" (seed {seed}, {steps} {sampler} steps, method "
                 "{method})").format(volume=volume.GetName(), region=region.describe(), prompt=settings.prompt,
                                     seed=settings.seed, steps=settings.steps, sampler=settings.sampler,
                                     method=settings.method)

    def show_progress(self, event: dict[str, Any]) -> None:
        super().show_progress(event)
        attempt, attempts = int(event.get("volume") or 1), int(event.get("num_volumes") or 1)
        if attempt > 1:
            self.set_status(_("Attempt {attempt} of {attempts} (the last sample missed the prompted contrast): "
                              "step {step}/{total}").format(attempt=attempt, attempts=attempts,
                                                            step=event.get("step"), total=event.get("total")))

    def on_succeeded(self, outcome: RunOutcome, elapsed: float) -> None:
        nodes = outcome.result
        source = self._parameterNode.lesionVolume if self._parameterNode is not None else None
        self.set_status(_("Added '{volume}' and its lesion segmentation '{mask}' in {time}. '{source}' is unchanged; "
                          "to undo, delete the two new nodes.").format(
            volume=nodes.volume.GetName(), mask=nodes.segmentation.GetName(), time=format_duration(elapsed),
            source=source.GetName() if source is not None else "?") + contrast_summary(node_provenance(nodes.volume)))
        if self._parameterNode is not None:
            was_modifying = self._parameterNode.StartModify()
            self._parameterNode.exportVolume = nodes.volume
            self._parameterNode.exportSegmentation = nodes.segmentation
            self._parameterNode.EndModify(was_modifying)
