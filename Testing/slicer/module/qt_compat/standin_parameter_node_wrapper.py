"""A small stand-in for ``slicer.parameterNodeWrapper`` (tests only; slicer-core lacks it).

It implements the part of the API the BrainGen3D module uses, with the same observable behaviour
as Slicer's implementation:

* ``@parameterNodeWrapper`` turns annotated class fields into properties stored as text parameters
  of a ``vtkMRMLScriptedModuleNode`` (int/float as ``str(value)``, bool as ``"True"``/``"False"``,
  Enum by member name, Path as text, MRML nodes as node references); missing parameters get their
  defaults when a node is wrapped.
* ``WithinRange``, ``Minimum``, ``Maximum``, ``Choice`` validate writes; ``Default`` gives a default.
* ``connectGui(gui)`` binds every widget whose ``SlicerParameterName`` property names a field:
  QCheckBox/bool, QSpinBox/int, QDoubleSpinBox/float, QComboBox with Choice or an Enum (labels from
  the Enum's ``label``), QLineEdit/str, QTextEdit/str, ctkPathLineEdit/Path, qMRMLNodeComboBox/node.
  As in Slicer, widgets are matched by exact type, ranges come from the annotations, and every
  parameter-node modification rewrites every connected widget.
"""

from __future__ import annotations

import dataclasses
import enum
import pathlib
import typing

import slicer
import vtk

SlicerParameterNamePropertyName = "SlicerParameterName"


@dataclasses.dataclass
class WithinRange:
    minimum: float
    maximum: float

    def validate(self, value):
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"Value {value} is not within [{self.minimum}, {self.maximum}]")


@dataclasses.dataclass
class Minimum:
    minimum: float

    def validate(self, value):
        if value < self.minimum:
            raise ValueError(f"Value {value} is below {self.minimum}")


@dataclasses.dataclass
class Maximum:
    maximum: float

    def validate(self, value):
        if value > self.maximum:
            raise ValueError(f"Value {value} is above {self.maximum}")


@dataclasses.dataclass
class Choice:
    choices: list

    def validate(self, value):
        if value not in self.choices:
            raise ValueError(f"Value {value!r} is not one of {self.choices}")


@dataclasses.dataclass
class Default:
    value: object


def _split(annotated):
    if typing.get_origin(annotated) is typing.Annotated:
        base, *annotations = typing.get_args(annotated)
        return base, annotations
    return annotated, []


def _is_node_type(kind):
    return isinstance(kind, type) and issubclass(kind, slicer.vtkMRMLNode)


class _Parameter:
    def __init__(self, name, kind, annotations, default):
        self.name, self.kind, self.annotations, self.default = name, kind, annotations, default

    def validate(self, value):
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if _is_node_type(self.kind):
            if value is not None and not isinstance(value, self.kind):
                raise TypeError(f"{self.name}: expected {self.kind.__name__}")
        elif not isinstance(value, self.kind) or (self.kind is int and isinstance(value, bool)):
            raise TypeError(f"{self.name}: expected {self.kind.__name__}, got {type(value).__name__}")
        for annotation in self.annotations:
            if hasattr(annotation, "validate"):
                annotation.validate(value)
        return value

    def write(self, node, value):
        value = self.validate(value)
        if _is_node_type(self.kind):
            node.SetParameter(self.name, "")
            node.SetNodeReferenceID(self.name, value.GetID() if value is not None else None)
        elif self.kind is bool:
            node.SetParameter(self.name, "True" if value else "False")
        elif issubclass(self.kind, enum.Enum):
            node.SetParameter(self.name, value.name)
        else:
            node.SetParameter(self.name, str(value))

    def read(self, node):
        if _is_node_type(self.kind):
            return node.GetNodeReference(self.name)
        text = node.GetParameter(self.name)
        if self.kind is bool:
            return text == "True"
        if issubclass(self.kind, enum.Enum):
            return self.kind[text]
        return self.kind(text)


# --- GUI connectors -----------------------------------------------------------------------------

def _range(annotations):
    for annotation in annotations:
        if isinstance(annotation, WithinRange):
            return annotation.minimum, annotation.maximum
    low = next((a.minimum for a in annotations if isinstance(a, Minimum)), None)
    high = next((a.maximum for a in annotations if isinstance(a, Maximum)), None)
    return low, high


class _Connector:
    signal = ""

    def __init__(self, widget, parameter):
        self.widget, self.parameter = widget, parameter

    def connect(self, callback):
        self._callback = callback
        getattr(self.widget, self.signal).connect(callback)

    def disconnect(self):
        getattr(self.widget, self.signal).disconnect(self._callback)


class _CheckBox(_Connector):
    signal = "toggled"

    def read(self):
        return self.widget.isChecked()

    def write(self, value):
        self.widget.setChecked(value)


class _SpinBox(_Connector):
    signal = "valueChanged"

    def __init__(self, widget, parameter):
        super().__init__(widget, parameter)
        low, high = _range(parameter.annotations)
        is_int = parameter.kind is int
        widget.setMinimum(low if low is not None else (-2**31 if is_int else float("-inf")))
        widget.setMaximum(high if high is not None else (2**31 - 1 if is_int else float("inf")))

    def read(self):
        return self.widget.value()

    def write(self, value):
        self.widget.setValue(value)


class _ComboBox(_Connector):
    signal = "currentIndexChanged"

    def __init__(self, widget, parameter):
        super().__init__(widget, parameter)
        if issubclass(parameter.kind, enum.Enum):
            label = getattr(parameter.kind, "label", lambda member: member.name)
            self.values = list(parameter.kind)
            labels = [label(member) for member in self.values]
        else:
            choice = next((a for a in parameter.annotations if isinstance(a, Choice)), None)
            if choice is None:
                raise RuntimeError("A QComboBox needs a Choice annotation or an Enum type")
            self.values = list(choice.choices)
            labels = [str(value) for value in self.values]
        widget.clear()
        for text in labels:
            widget.addItem(text)

    def read(self):
        return self.values[self.widget.currentIndex()]

    def write(self, value):
        self.widget.setCurrentIndex(self.values.index(value))


class _LineEdit(_Connector):
    signal = "textChanged"

    def read(self):
        return self.widget.text()

    def write(self, value):
        self.widget.setText(value)


class _TextEdit(_Connector):
    signal = "textChanged"

    def read(self):
        return self.widget.toPlainText()

    def write(self, value):
        self.widget.setPlainText(value)


class _PathLineEdit(_Connector):
    signal = "currentPathChanged"

    def read(self):
        return self.parameter.kind(self.widget.currentPath)

    def write(self, value):
        self.widget.setCurrentPath(str(value))


class _NodeComboBox(_Connector):
    signal = "currentNodeChanged"

    def read(self):
        return self.widget.currentNode()

    def write(self, value):
        self.widget.setCurrentNode(value)


def _make_connector(widget, parameter):
    import ctk
    import mrml_widgets
    import qt

    kind, widget_type = parameter.kind, type(widget)
    table = [
        (qt.QCheckBox, lambda: kind is bool, _CheckBox),
        (qt.QSpinBox, lambda: kind is int, _SpinBox),
        (qt.QDoubleSpinBox, lambda: kind is float, _SpinBox),
        (qt.QComboBox, lambda: kind in (int, float, str, bool) or issubclass(kind, enum.Enum), _ComboBox),
        (qt.QLineEdit, lambda: kind is str, _LineEdit),
        (qt.QTextEdit, lambda: kind is str, _TextEdit),
        (ctk.ctkPathLineEdit, lambda: issubclass(kind, pathlib.PurePath), _PathLineEdit),
        (mrml_widgets.qMRMLNodeComboBox, lambda: _is_node_type(kind), _NodeComboBox),
    ]
    for expected_type, accepts, connector in table:
        if widget_type is expected_type and accepts():
            return connector(widget, parameter)
    raise RuntimeError(f"No GUI connector for parameter '{parameter.name}' ({kind}) and widget {widget_type.__name__}")


# --- the decorator ------------------------------------------------------------------------------

def _widgets_of(gui):
    import qt

    if isinstance(gui, qt.QWidget):
        return gui.findChildren(qt.QWidget)
    return [w for w in vars(gui).values() if isinstance(w, qt.QWidget)]


def parameterNodeWrapper(classtype=None):
    def wrap(cls):
        parameters = {}
        for name, annotated in typing.get_type_hints(cls, include_extras=True).items():
            kind, annotations = _split(annotated)
            if hasattr(cls, name):
                default = getattr(cls, name)
            else:
                default = next((a.value for a in annotations if isinstance(a, Default)), None)
                if default is None and not _is_node_type(kind):
                    default = next(iter(kind)) if issubclass(kind, enum.Enum) else kind()
            parameters[name] = _Parameter(name, kind, annotations, default)
            setattr(cls, name, property(lambda self, n=name: self.getValue(n),
                                        lambda self, value, n=name: self.setValue(n, value)))

        def __init__(self, parameterNode):
            self.parameterNode = parameterNode
            self._guis = {}
            self._next_tag = 0
            self._updating_gui = False
            for parameter in parameters.values():
                if not parameterNode.HasParameter(parameter.name):
                    parameter.write(parameterNode, parameter.default)

        def getValue(self, name):
            return parameters[name].read(self.parameterNode)

        def setValue(self, name, value):
            parameters[name].write(self.parameterNode, value)

        def connectGui(self, gui):
            mapping = {}
            for widget in _widgets_of(gui):
                name = widget.property(SlicerParameterNamePropertyName)
                if name:
                    if name not in parameters:
                        raise ValueError(f"Cannot find a param with the given name: {name}")
                    mapping[name] = _make_connector(widget, parameters[name])
            tag = self._next_tag
            self._next_tag += 1
            self._guis[tag] = mapping
            for name, connector in mapping.items():
                connector.write(self.getValue(name))
                connector.connect(lambda *_args, n=name, c=connector: self._from_gui(n, c))
            mapping["__observer__"] = self.parameterNode.AddObserver(vtk.vtkCommand.ModifiedEvent,
                                                                     lambda *_: self._to_gui())
            return tag

        def disconnectGui(self, tag):
            mapping = self._guis.pop(tag, None)
            if mapping is None:
                return
            self.parameterNode.RemoveObserver(mapping.pop("__observer__"))
            for connector in mapping.values():
                connector.disconnect()

        def _from_gui(self, name, connector):
            if not self._updating_gui:
                self.setValue(name, connector.read())

        def _to_gui(self):
            if self._updating_gui:
                return
            self._updating_gui = True
            try:
                for mapping in self._guis.values():
                    for name, connector in mapping.items():
                        if name != "__observer__":
                            connector.write(self.getValue(name))
            finally:
                self._updating_gui = False

        members = {
            "__init__": __init__, "allParameters": parameters, "getValue": getValue, "setValue": setValue,
            "connectGui": connectGui, "disconnectGui": disconnectGui, "_from_gui": _from_gui, "_to_gui": _to_gui,
            "default": lambda self, name: Default(parameters[name].default),
            "dataType": staticmethod(lambda name: parameters[name].kind),
            "StartModify": lambda self: self.parameterNode.StartModify(),
            "EndModify": lambda self, was_modified: self.parameterNode.EndModify(was_modified),
            "AddObserver": lambda self, event, callback, priority=0.0: self.parameterNode.AddObserver(event, callback, priority),
            "RemoveObserver": lambda self, tag: self.parameterNode.RemoveObserver(tag),
            "Modified": lambda self: self.parameterNode.Modified(),
        }
        for attribute, value in members.items():
            setattr(cls, attribute, value)
        return cls

    return wrap if classtype is None else wrap(classtype)
