"""Adds to the real ``slicer`` package (slicer-core) the pieces only the Slicer application has.

``install()`` makes these importable, so ``BrainGen3D.py`` loads unchanged outside Slicer:

* ``slicer.ScriptedLoadableModule`` – ScriptedLoadableModule, …Widget, …Logic (parameter node as
  the scene's singleton ``vtkMRMLScriptedModuleNode``), …Test (a unittest.TestCase);
* ``slicer.parameterNodeWrapper`` – see ``standin_parameter_node_wrapper``;
* ``slicer.i18n`` – ``tr`` and ``translate`` that return the text;
* ``slicer.qMRMLWidget``, ``slicer.qMRMLNodeComboBox`` – see ``mrml_widgets``;
* ``slicer.qMRMLSegmentEditorWidget`` – see ``segment_editor``;
* ``QObject.name`` – PythonQt's alias of ``objectName``, used by ``slicer.util.childWidgetVariables``;
* message boxes (``slicer.util.errorDisplay``, ``confirmOkCancelDisplay``, …) that record their text in
  ``MESSAGES`` instead of opening modal dialogs; ``CONFIRM_ANSWER`` is what confirmations return.

``slicer.app`` is deliberately absent: module code takes its no-application paths.
"""

from __future__ import annotations

import logging
import os
import sys
import types
import unittest

MESSAGES: list[tuple[str, str]] = []
CONFIRM_ANSWER = {"value": True}


def _scripted_loadable_module():
    import qt
    import slicer

    module = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent
            self.moduleName = self.__class__.__name__

        def getDefaultModuleDocumentationLink(self, docPage=None):
            return ""

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.moduleName = self.__class__.__name__[: -len("Widget")]
            own_parent = parent is None
            if own_parent:
                parent = slicer.qMRMLWidget()
                parent.setLayout(qt.QVBoxLayout())
                parent.setMRMLScene(slicer.mrmlScene)
            self.parent = parent
            self.layout = parent.layout()
            if own_parent:  # as in Slicer: a widget without a parent sets itself up
                self.setup()

        def resourcePath(self, filename):
            module_dir = os.path.dirname(os.path.abspath(sys.modules[type(self).__module__].__file__))
            return os.path.join(module_dir, "Resources", filename)

        def setup(self):
            pass

        def cleanup(self):
            pass

        def enter(self):
            pass

        def exit(self):
            pass

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent=None):
            self.moduleName = self.__class__.__name__[: -len("Logic")] if self.__class__.__name__.endswith("Logic") \
                else self.__class__.__name__

        def getParameterNode(self):
            scene = slicer.mrmlScene
            node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if node is None:
                node = slicer.vtkMRMLScriptedModuleNode()
                node.SetSingletonTag(self.moduleName)
                node.SetAttribute("ModuleName", self.moduleName)
                node.SetName(scene.GenerateUniqueName(self.moduleName))
                node = scene.AddNode(node)
            return node

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message, msec=1000):
            logging.info(message)

        def runTest(self):
            pass

    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic,
                ScriptedLoadableModuleTest):
        setattr(module, cls.__name__, cls)
    module.__all__ = [cls.__name__ for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget,
                                                ScriptedLoadableModuleLogic, ScriptedLoadableModuleTest)]
    return module


def _i18n():
    module = types.ModuleType("slicer.i18n")
    module.tr = lambda text: text
    module.translate = lambda context, text: text
    return module


def _record(kind):
    def display(text, *args, **kwargs):
        MESSAGES.append((kind, str(text)))
        return CONFIRM_ANSWER["value"] if kind == "confirm" else None

    return display


def install() -> None:
    """Install the stand-ins (idempotent). Call after a QApplication exists."""
    import slicer

    if getattr(slicer, "_braingen3d_standins", False):
        return
    import mrml_widgets
    import qt
    import segment_editor
    import standin_parameter_node_wrapper

    sys.modules["slicer.ScriptedLoadableModule"] = _scripted_loadable_module()
    sys.modules["slicer.parameterNodeWrapper"] = standin_parameter_node_wrapper
    sys.modules["slicer.i18n"] = _i18n()
    slicer.ScriptedLoadableModule = sys.modules["slicer.ScriptedLoadableModule"]
    slicer.parameterNodeWrapper = standin_parameter_node_wrapper
    slicer.i18n = sys.modules["slicer.i18n"]
    slicer.qMRMLWidget = mrml_widgets.qMRMLWidget
    slicer.qMRMLNodeComboBox = mrml_widgets.qMRMLNodeComboBox
    slicer.qMRMLSegmentEditorWidget = segment_editor.qMRMLSegmentEditorWidget
    qt.QObject.name = property(lambda self: self.objectName())
    for name, kind in (("errorDisplay", "error"), ("warningDisplay", "warning"), ("infoDisplay", "info"),
                       ("confirmOkCancelDisplay", "confirm"), ("confirmYesNoDisplay", "confirm")):
        setattr(slicer.util, name, _record(kind))
    slicer._braingen3d_standins = True
