"""The "Export" part of the panel: a generated or inpainted volume (and optionally its lesion
segmentation) to NIfTI, NRRD + Slicer .seg.nrrd, or DICOM series + DICOM SEG, in a chosen folder."""

from __future__ import annotations

import pathlib
from typing import Any, Callable

import vtk

from .dependencies import InstallPlan
from .export_logic import export_dependency_plan
from .i18n import _
from .lesion_import import LESION_REFERENCE_ROLE
from .logic import SettingsError
from .parameters import export_settings
from .process import RunOutcome
from .provenance import SYNTHETIC_ATTRIBUTE, SYNTHETIC_VALUE
from .task_section import TaskSection
from .widget_helpers import TextBinding, format_duration


class ExportSection(TaskSection):
    """Export: what, which formats, where; Export/Cancel and the list of written files.

    Args: see ``TaskSection``; ``logic.exports`` is the ``ExportLogic`` it runs.
    """

    def __init__(self, ui, logic, **kwargs) -> None:
        super().__init__(ui, logic, **kwargs)
        self.run_text, self.cancel_text = _("Export"), _("Cancel export")
        self._parameterNode = None
        self._observerTag = None
        self._folderBinding = None
        self._lastVolumeID = None

    @property
    def task(self):
        return self.logic.exports

    def setup(self) -> None:
        import ctk
        import slicer

        ui = self.ui
        self.run_button, self.status_label, self.progress_bar = ui.exportButton, ui.exportStatusLabel, None
        self.input_widgets = [ui.exportInputsWidget]
        ui.exportVolumeSelector.addAttribute("vtkMRMLScalarVolumeNode", SYNTHETIC_ATTRIBUTE, SYNTHETIC_VALUE)
        for selector in (ui.exportVolumeSelector, ui.exportSegmentationSelector):
            selector.setMRMLScene(slicer.mrmlScene)
        ui.exportFolderLineEdit.filters = ctk.ctkPathLineEdit.Dirs
        self._folderBinding = TextBinding(ui.exportFolderLineEdit, lambda: _path_text(self._parameterNode.exportFolder),
                                          self._setFolder)
        ui.exportButton.clicked.connect(self.onRunOrCancel)
        self.status_label.setText("")

    def _setFolder(self, text: str) -> None:
        if self._parameterNode is not None:
            self._parameterNode.exportFolder = pathlib.Path(text)

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode is not None and self._observerTag is not None:
            self._parameterNode.RemoveObserver(self._observerTag)
            self._observerTag = None
        self._parameterNode = parameterNode
        self._lastVolumeID = None
        if parameterNode is not None:
            self._observerTag = parameterNode.AddObserver(vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self.updateGUIFromParameterNode()

    def cleanup(self) -> None:
        super().cleanup()
        self.setParameterNode(None)

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        self.updateGUIFromParameterNode()

    def updateGUIFromParameterNode(self) -> None:
        parameters = self._parameterNode
        if parameters is None:
            return
        self._folderBinding.update_widget()
        volume = parameters.exportVolume
        volume_id = volume.GetID() if volume is not None else None
        if volume_id != self._lastVolumeID:
            self._lastVolumeID = volume_id
            # An inpainted volume brings its lesion segmentation along.
            lesion = volume.GetNodeReference(LESION_REFERENCE_ROLE) if volume is not None else None
            if lesion is not None and parameters.exportSegmentation is not lesion:
                parameters.exportSegmentation = lesion
                return  # the modification calls this method again
        self.ui.exportModalityComboBox.setEnabled(parameters.exportDicom)
        self.update_run_button()

    def update_run_button(self, ready: bool = True) -> None:
        parameters = self._parameterNode
        super().update_run_button(parameters is not None and parameters.exportVolume is not None)

    def dependency_plan(self) -> InstallPlan | None:
        return export_dependency_plan(export_settings(self._parameterNode).formats) if self._parameterNode else None

    def start_job(self, on_event: Callable[[dict[str, Any]], None], on_finished: Callable[[RunOutcome], None]) -> str:
        if self._parameterNode is None:
            raise SettingsError(_("The panel is not ready yet."))
        settings = export_settings(self._parameterNode)
        volume, segmentation = self._parameterNode.exportVolume, self._parameterNode.exportSegmentation
        self.task.export(volume, segmentation, settings, on_event=on_event, on_finished=on_finished)
        what = volume.GetName() + (_(" with '{name}'").format(name=segmentation.GetName()) if segmentation else "")
        return _("Exporting '{what}' as {formats} into {folder}").format(
            what=what, formats=", ".join(settings.formats), folder=settings.folder)

    def on_worker_event(self, event: dict[str, Any]) -> None:
        if event["event"] == "progress" and str(event.get("phase", "")).startswith("export "):
            fmt = str(event["phase"])[len("export "):]
            if fmt != "done":
                self.set_status(_("Writing {format} ({n} of {total})...").format(
                    format=fmt, n=int(event["step"]) + 1, total=event["total"]))
            return
        super().on_worker_event(event)

    def on_succeeded(self, outcome: RunOutcome, elapsed: float) -> None:
        paths = outcome.result or []
        self.set_status(_("Exported {n} file(s) in {time} into {folder}.").format(
            n=len(paths), time=format_duration(elapsed), folder=str(self._parameterNode.exportFolder)
            if self._parameterNode is not None else "?"))
        for path in paths:
            self.append_log(_("Wrote {path}").format(path=path))


def _path_text(path: pathlib.Path) -> str:
    text = str(path)
    return "" if text == "." else text
