"""BrainGen3D: generate synthetic 3D brain MRI from a text prompt, inside 3D Slicer.

This file holds the module's four Slicer classes and stays thin: the panel sections, the worker
process, scene import and dependency handling live in ``BrainGen3DLib``.
"""

import tempfile
from pathlib import Path

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from BrainGen3DLib.export_logic import ExportLogic
from BrainGen3DLib.export_section import ExportSection
from BrainGen3DLib.generate_section import GenerateSection, make_device_probe
from BrainGen3DLib.lesion_logic import LesionInpaintLogic
from BrainGen3DLib.lesion_section import LesionSection
from BrainGen3DLib.logic import GenerationLogic, GenerationSettings
from BrainGen3DLib.parameters import BrainGen3DParameterNode
from BrainGen3DLib.process import RunStatus
from BrainGen3DLib.provenance import node_provenance
from BrainGen3DLib.self_test import testing_bundle
from BrainGen3DLib.warm_worker import shutdown_warm_workers

HOMEPAGE = "https://github.com/braingen3d/BrainGen3D"


class BrainGen3D(ScriptedLoadableModule):
    """Module description shown by Slicer."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("BrainGen3D")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Synthetic Data")]
        self.parent.dependencies = []
        self.parent.contributors = ["BrainGen3D contributors"]
        self.parent.helpText = _(
            "Generate synthetic 3D brain MRI volumes from a text prompt with a latent diffusion model. "
            "Every volume is marked synthetic and carries its full provenance (prompt, seed, sampler, model). "
            "See the <a href='{url}'>documentation</a>.").format(url=HOMEPAGE + "/blob/main/docs/slicer.md")
        self.parent.acknowledgementText = _(
            "Built on MONAI generative networks, 3D Slicer and the MNI152 ICBM 2009a template. "
            "Generated images are synthetic and must not be used for diagnosis.")


class BrainGen3DWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: loads the .ui, binds it to the parameter node and hosts the panel sections."""

    deviceProbeFactory = staticmethod(make_device_probe)

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.sections = []
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/BrainGen3D.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = BrainGen3DLogic()
        self.sections = [GenerateSection(self.ui, self.logic, set_busy=self.setBusy,
                                         device_probe=self.deviceProbeFactory()),
                         LesionSection(self.ui, self.logic, set_busy=self.setBusy),
                         ExportSection(self.ui, self.logic, set_busy=self.setBusy)]
        for section in self.sections:
            section.setup()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndImportEvent, self.onSceneEndImport)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.setParameterNode(None)
        for section in self.sections:
            section.cleanup()
        self.logic.file_keeper.forget_all()
        self.removeObservers()
        shutdown_warm_workers()  # the engine's memory goes with the module

    def enter(self) -> None:
        self.initializeParameterNode()
        for section in self.sections:
            section.enter()

    def exit(self) -> None:
        for section in self.sections:
            section.exit()
        # Keep a running job going; only stop mirroring the parameter node.
        if self._parameterNode is not None and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event) -> None:
        for task in self.logic.tasks():
            if task.busy:
                task.cancel()
        self.logic.file_keeper.forget_all()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onSceneEndImport(self, caller, event) -> None:
        self.logic.file_keeper.watch_scene(slicer.mrmlScene)
        self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode is not None and self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
        self._parameterNode = parameterNode
        if parameterNode is not None:
            self._parameterNodeGuiTag = parameterNode.connectGui(self.ui)
        for section in self.sections:
            section.setParameterNode(parameterNode)

    def setBusy(self, busy: bool) -> None:
        for section in self.sections:
            section.setBusy(busy)


class BrainGen3DLogic(ScriptedLoadableModuleLogic, GenerationLogic):
    """The module logic: the parameter node, ``GenerationLogic`` (worker process → MRML nodes), and
    ``lesions`` (``LesionInpaintLogic``) and ``exports`` (``ExportLogic``).

    Usable from the Python console without the panel::

        logic = slicer.util.getModuleLogic("BrainGen3D")
        logic.generate(GenerationSettings(prompt="T1-weighted brain MRI of a 70-year-old female", seed=1))
        nodes = logic.wait().result
    """

    def __init__(self, **kwargs) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        GenerationLogic.__init__(self, **kwargs)
        shared = {key: kwargs[key] for key in ("scene", "use_timer", "work_root") if key in kwargs}
        self.lesions = LesionInpaintLogic(file_keeper=self.file_keeper, **shared)
        self.exports = ExportLogic(**shared)

    def tasks(self) -> list:
        """The module's background jobs: generation, lesion inpainting, export."""
        return [self, self.lesions, self.exports]

    def getParameterNode(self):
        return BrainGen3DParameterNode(super().getParameterNode())


class BrainGen3DTest(ScriptedLoadableModuleTest):
    """Generates a real volume: with the default bundle if installed, else a random tiny bundle."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_GenerateVolume()

    def test_GenerateVolume(self):
        self.delayDisplay("Starting the BrainGen3D generation test")
        with tempfile.TemporaryDirectory() as folder:
            bundle, card = testing_bundle(Path(folder))
            logic = BrainGen3DLogic()
            settings = GenerationSettings(prompt="T1-weighted brain MRI of a 70-year-old female", steps=2, seed=11,
                                          bundle_path=str(bundle) if bundle else None)
            logic.generate(settings)
            outcome = logic.wait(timeout=900)
        self.assertEqual(outcome.status, RunStatus.SUCCEEDED, outcome.message)
        node = outcome.result[0]
        self.assertEqual(node.GetAttribute("BrainGen3D.Synthetic"), "yes")
        self.assertEqual(node_provenance(node)["seed"], 11)
        self.assertEqual(list(slicer.util.arrayFromVolume(node).shape), list(reversed(card.shape)))
        spacing = node.GetSpacing()
        for axis in range(3):
            self.assertAlmostEqual(spacing[axis], card.spacing[axis], places=3)
        self.delayDisplay("Test passed")
