"""The generation part of the panel: prompt and quick picks, sampling, model and device, Generate/Cancel,
progress, generated volumes ("Load its parameters") and the log."""

from __future__ import annotations

import html
import logging
import pathlib
import random
import time
from typing import Any, Callable

import vtk

from .bundle_card import BundleCardError, card_html, default_bundle_folder, read_bundle_card
from .dependencies import DependencyError, ensure_dependencies
from .devices import DeviceInfo, DeviceProbe
from .i18n import _
from .logic import SettingsError, default_worker_command
from .parameters import DEVICES, MAX_PANEL_SEED, SAMPLERS, compose_prompt, generation_settings, quick_picks
from .process import RunOutcome, RunStatus, qt_timer_factory
from .prompt_builder import VocabularyMissingError
from .provenance import SYNTHETIC_ATTRIBUTE, SYNTHETIC_VALUE, ProvenanceError, regeneration_settings
from .section import PanelSection
from .widget_helpers import TextBinding, format_duration, prop, set_combo_item_enabled

logger = logging.getLogger(__name__)
MAX_LOG_LINES = 5000


class GenerateSection(PanelSection):
    """Generation controls and their behaviour.

    Args:
        ui: the panel's named child widgets.
        logic: a ``GenerationLogic`` (the module logic).
        set_busy: see ``PanelSection``.
        confirm: asks a yes/no question (default: ``slicer.util.confirmOkCancelDisplay``).
        show_error: shows an error message (default: ``slicer.util.errorDisplay``).
        check_dependencies: installs what the worker needs; returns False if the user declined.
        device_probe: detects CPU/CUDA in a background process (None: no detection).
    """

    def __init__(self, ui, logic, set_busy: Callable[[bool], None] | None = None,
                 confirm: Callable[[str], bool] | None = None, show_error: Callable[[str], None] | None = None,
                 check_dependencies: Callable[..., bool] = ensure_dependencies,
                 device_probe: DeviceProbe | None = None) -> None:
        super().__init__(ui, logic, set_busy)
        import slicer

        self.confirm = confirm or (lambda text: bool(slicer.util.confirmOkCancelDisplay(text)))
        self.show_error = show_error or (lambda text: slicer.util.errorDisplay(text))
        self.check_dependencies = check_dependencies
        self.device_probe = device_probe
        self.device_info: DeviceInfo | None = None
        self._parameterNode = None
        self._observerTag = None
        self._lastPicks = None
        self._cardKey = None
        self._card = None
        self._startTime = 0.0
        self._bindings: list[TextBinding] = []
        self._panelBusy = False

    # --- set-up --------------------------------------------------------------------------------

    def setup(self) -> None:
        ui = self.ui
        ui.generatedVolumeSelector.addAttribute("vtkMRMLScalarVolumeNode", SYNTHETIC_ATTRIBUTE, SYNTHETIC_VALUE)
        import slicer

        ui.generatedVolumeSelector.setMRMLScene(slicer.mrmlScene)
        ui.logTextEdit.setMaximumBlockCount(MAX_LOG_LINES)
        ui.generateButton.clicked.connect(self.onGenerateOrCancel)
        ui.randomSeedButton.clicked.connect(self.onRandomSeed)
        ui.applyQuickPicksButton.clicked.connect(self.onApplyQuickPicks)
        ui.regenerateButton.clicked.connect(self.onLoadParametersFromVolume)
        self._bindings = [
            TextBinding(ui.promptTextEdit, lambda: self._parameterNode.prompt, self._setParameter("prompt")),
            TextBinding(ui.negativePromptTextEdit, lambda: self._parameterNode.negativePrompt,
                        self._setParameter("negativePrompt")),
            TextBinding(ui.bundlePathLineEdit, lambda: _path_text(self._parameterNode.bundlePath),
                        lambda text: self._setParameter("bundlePath")(pathlib.Path(text))),
        ]
        import ctk

        ui.bundlePathLineEdit.filters = ctk.ctkPathLineEdit.Dirs
        ui.progressBar.setValue(0)
        ui.statusLabel.setText("")
        if self.device_probe is not None:
            self.device_probe.start(self._onDevicesDetected)

    def _setParameter(self, name: str) -> Callable[[Any], None]:
        def write(value: Any) -> None:
            if self._parameterNode is not None:
                setattr(self._parameterNode, name, value)
        return write

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode is not None and self._observerTag is not None:
            self._parameterNode.RemoveObserver(self._observerTag)
            self._observerTag = None
        self._parameterNode = parameterNode
        if parameterNode is None:
            return
        self._lastPicks = quick_picks(parameterNode)
        self._cardKey = None
        self._observerTag = parameterNode.AddObserver(vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        if self.device_info is not None:
            self._applyDeviceInfo(self.device_info)
        self.updateGUIFromParameterNode()

    def cleanup(self) -> None:
        if self.device_probe is not None:
            self.device_probe.stop()
        if self.logic.busy:
            self.logic.cancel()
        self.setParameterNode(None)

    def setBusy(self, busy: bool) -> None:
        for name in ("promptCollapsibleButton", "samplingCollapsibleButton", "modelCollapsibleButton",
                     "regenerateButton"):
            getattr(self.ui, name).setEnabled(not busy)
        self._panelBusy = busy
        running_here = busy and self.owns_busy
        self.ui.generateButton.setText(_("Cancel") if running_here else _("Generate"))
        self.ui.generateButton.setToolTip(_("Stop the generation; nothing is added to the scene.") if running_here
                                          else _("Generate volumes from the prompt; becomes Cancel while running."))
        self._updateGenerateButton()

    # --- parameter node → GUI ------------------------------------------------------------------

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        self.updateGUIFromParameterNode()

    def updateGUIFromParameterNode(self) -> None:
        parameters = self._parameterNode
        if parameters is None:
            return
        picks = quick_picks(parameters)
        if picks != self._lastPicks:
            self._lastPicks = picks
            if parameters.prompt == parameters.composedPrompt:
                # Not edited by hand: the quick picks keep writing it.
                self._writeComposedPrompt()
                return  # writing the prompt modifies the node, which calls this method again
        for binding in self._bindings:
            binding.update_widget()
        edited = parameters.prompt != parameters.composedPrompt
        self.ui.promptStatusLabel.setText(
            _("Edited by hand: the quick picks no longer change it ('Write prompt' replaces it).") if edited
            else _("Written by the quick picks; edit it freely."))
        self.ui.bundlePathLineEdit.setEnabled(not parameters.useDefaultBundle)
        self._updateBundleCard()
        self._updateGenerateButton()

    def _writeComposedPrompt(self) -> None:
        try:
            text = compose_prompt(quick_picks(self._parameterNode))
        except VocabularyMissingError as exc:
            self._setStatus(str(exc), error=True)
            return
        was_modifying = self._parameterNode.StartModify()
        self._parameterNode.composedPrompt = text
        self._parameterNode.prompt = text
        self._parameterNode.EndModify(was_modifying)

    def _updateGenerateButton(self) -> None:
        parameters = self._parameterNode
        ready = parameters is not None and bool(parameters.prompt.strip()) and (self._card is not None or self.logic.busy)
        other_section_busy = self._panelBusy and not self.owns_busy
        self.ui.generateButton.setEnabled(self.logic.busy or (ready and not other_section_busy))

    def _updateBundleCard(self) -> None:
        parameters = self._parameterNode
        key = (parameters.useDefaultBundle, str(parameters.bundlePath))
        if key == self._cardKey:
            return
        self._cardKey = key
        self._card = None
        if parameters.useDefaultBundle:
            folder = default_bundle_folder()
            if folder is None:
                self._showCardProblem(_("No embedded default bundle was found. Install the engine with its default "
                                        "bundle, or untick 'Embedded default' and choose a bundle folder."))
                return
        else:
            folder = _path_text(parameters.bundlePath)
        try:
            self._card = read_bundle_card(folder)
        except BundleCardError as exc:
            self._showCardProblem(str(exc))
            return
        self.ui.bundleCardLabel.setText(card_html(self._card))

    def _showCardProblem(self, text: str) -> None:
        self.ui.bundleCardLabel.setText(f"<span style='color:#b00020'>{html.escape(text)}</span>")

    # --- devices -------------------------------------------------------------------------------

    def _onDevicesDetected(self, info: DeviceInfo) -> None:
        self.device_info = info
        self._applyDeviceInfo(info)

    def _applyDeviceInfo(self, info: DeviceInfo) -> None:
        self.ui.deviceStatusLabel.setText(info.summary())
        set_combo_item_enabled(self.ui.deviceComboBox, DEVICES.index("cuda"), info.cuda_available)
        if not info.cuda_available and self._parameterNode is not None and self._parameterNode.device == "cuda":
            self._setStatus(_("No CUDA GPU was detected; choose 'auto' or 'cpu'."), error=True)

    # --- actions -------------------------------------------------------------------------------

    def onRandomSeed(self) -> None:
        if self._parameterNode is not None:
            self._parameterNode.seed = random.randint(0, MAX_PANEL_SEED)

    def onApplyQuickPicks(self) -> None:
        if self._parameterNode is not None:
            self._writeComposedPrompt()

    def onGenerateOrCancel(self) -> None:
        if self.logic.busy:
            self._appendLog(_("Cancelling..."))
            self.logic.cancel()
            return
        if self._parameterNode is None:
            return
        settings = generation_settings(self._parameterNode)
        try:
            settings.validate()
            if not self.check_dependencies(self.confirm):
                self._setStatus(_("Generation needs the packages listed; nothing was installed."), error=True)
                return
        except (SettingsError, DependencyError) as exc:
            self._fail(str(exc))
            return
        self._startTime = time.monotonic()
        self.ui.progressBar.setRange(0, settings.steps * settings.num_volumes)
        self.ui.progressBar.setValue(0)
        self._appendLog(_("Generating {n} volume(s): \"{prompt}\" (seed {seed}, {steps} {sampler} steps, guidance "
                          "{guidance})").format(n=settings.num_volumes, prompt=settings.prompt, seed=settings.seed,
                                                steps=settings.steps, sampler=settings.sampler,
                                                guidance=settings.guidance_scale))
        self._setStatus(_("Starting the worker..."))
        self.announce_busy(True)
        try:
            self.logic.generate(settings, on_event=self._onWorkerEvent, on_finished=self._onFinished)
        except (SettingsError, RuntimeError) as exc:
            self.announce_busy(False)
            self._fail(str(exc))

    def onLoadParametersFromVolume(self) -> None:
        node = self.ui.generatedVolumeSelector.currentNode()
        try:
            settings = regeneration_settings(node)
            if not 0 <= settings["seed"] <= MAX_PANEL_SEED:
                raise ProvenanceError(_("Seed {seed} is larger than the panel accepts; regenerate it with the "
                                        "braingen3d command line instead.").format(seed=settings["seed"]))
            if settings["sampler"] not in SAMPLERS:
                raise ProvenanceError(_("Sampler '{sampler}' is not offered in the panel; regenerate it with the "
                                        "braingen3d command line instead.").format(sampler=settings["sampler"]))
        except ProvenanceError as exc:
            self._fail(str(exc))
            return
        parameters = self._parameterNode
        was_modifying = parameters.StartModify()
        parameters.prompt = settings["prompt"]
        parameters.composedPrompt = ""  # a loaded prompt counts as edited: the quick picks leave it alone
        parameters.negativePrompt = settings["negative_prompt"]
        parameters.seed = settings["seed"]
        parameters.steps = settings["steps"]
        parameters.guidanceScale = settings["guidance_scale"]
        parameters.sampler = settings["sampler"]
        parameters.numVolumes = 1
        parameters.structureGuidance = settings["structure_guidance"]
        if settings["device"] in DEVICES:
            parameters.device = settings["device"]
        parameters.useDefaultBundle = settings["bundle_path"] is None
        if settings["bundle_path"]:
            parameters.bundlePath = pathlib.Path(settings["bundle_path"])
        parameters.EndModify(was_modifying)
        message = _("Loaded the parameters of '{name}'; Generate reproduces it.").format(name=node.GetName())
        if self._card is not None and settings["bundle_id"] and self._card.bundle_id != settings["bundle_id"]:
            message += " " + _("Note: it was made with bundle {made}, but the selected bundle is {selected}.").format(
                made=settings["bundle_id"], selected=self._card.bundle_id)
        self._setStatus(message)

    # --- worker events -------------------------------------------------------------------------

    def _onWorkerEvent(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "started":
            self._appendLog(_("Worker started (process {pid}).").format(pid=event.get("pid")))
            self._setStatus(_("Loading the model..."))
        elif kind == "log":
            self._appendLog(str(event.get("message", "")))
        elif kind == "progress":
            self._showProgress(event)

    def _showProgress(self, event: dict[str, Any]) -> None:
        try:
            step, total = int(event["step"]), max(1, int(event["total"]))
            volume, count = int(event.get("volume", 1)), max(1, int(event.get("num_volumes", 1)))
        except (KeyError, TypeError, ValueError):
            return
        self.ui.progressBar.setRange(0, total * count)
        self.ui.progressBar.setValue(min(total * count, (volume - 1) * total + step))
        phase = str(event.get("phase") or "")
        self._setStatus(_("Volume {volume}/{count}, {phase} step {step}/{total}, about {eta} left").format(
            volume=volume, count=count, phase=phase, step=step, total=total,
            eta=format_duration(event.get("eta_seconds"))))

    def _onFinished(self, outcome: RunOutcome) -> None:
        self.announce_busy(False)
        elapsed = time.monotonic() - self._startTime
        if outcome.status == RunStatus.SUCCEEDED:
            nodes = outcome.result or []
            self.ui.progressBar.setValue(prop(self.ui.progressBar, "maximum"))
            names = ", ".join(node.GetName() for node in nodes)
            self._setStatus(_("Generated {n} volume(s) in {time}: {names}").format(
                n=len(nodes), time=format_duration(elapsed), names=names))
            self._appendLog(_("Done in {time}.").format(time=format_duration(elapsed)))
            if nodes:
                self.ui.generatedVolumeSelector.setCurrentNode(nodes[-1])
        elif outcome.status == RunStatus.CANCELLED:
            self.ui.progressBar.setValue(0)
            self._setStatus(_("Cancelled; nothing was added to the scene."))
            self._appendLog(_("Cancelled."))
        else:
            self.ui.progressBar.setValue(0)
            self._fail(outcome.message)

    # --- output --------------------------------------------------------------------------------

    def _setStatus(self, text: str, error: bool = False) -> None:
        self.ui.statusLabel.setStyleSheet("color: #b00020;" if error else "")
        self.ui.statusLabel.setText(text)

    def _appendLog(self, text: str) -> None:
        self.ui.logTextEdit.appendPlainText(text)

    def _fail(self, message: str) -> None:
        self._setStatus(message, error=True)
        self._appendLog(_("Error: {message}").format(message=message))
        logger.error("BrainGen3D: %s", message)
        self.show_error(message)


def _path_text(path: pathlib.Path) -> str:
    text = str(path)
    return "" if text == "." else text


def make_device_probe() -> DeviceProbe:
    """A probe that runs the worker's ``probe`` task, polled by a QTimer."""
    return DeviceProbe(default_worker_command(), timer_factory=qt_timer_factory)
