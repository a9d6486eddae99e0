"""The worker protocol: one JSON request on stdin, JSON-line events on stdout.

Shared by the worker (``python -m braingen3d.worker``), the Slicer module (its process runner and the logic
that builds requests) and the test stand-in worker. It imports only the standard library, so Slicer's GUI
process may use it without torch.

Requests are JSON objects with a ``task``; each task's fields are a dataclass below (``GenerateTask``,
``InpaintTask``, ``ExportTask``, ``ProbeTask``). A field left out or null takes its default; for the settings
the engine has defaults for (steps, guidance, sampler, seed ...), null means the bundle's default.

Events are JSON objects with an ``event``, one per line:

* ``started``: ``pid``;
* ``log``: ``level``, ``message`` (the engine's log records);
* ``progress``: ``phase``, ``step``, ``total``, ``volume``, ``num_volumes``, ``eta_seconds``;
* ``result``: ``outputs``, a list of ``{"path": ..., ...}`` (generate: ``provenance``; inpaint: ``role``
  and ``provenance``; export: ``format``; probe: ``engine_version`` and ``devices`` instead of a path);
* ``error``: ``kind`` (one of ``ERROR_KINDS``) and ``message``;
* ``done``.

A run ends with ``result`` and ``done`` (exit code 0) or with ``error`` (exit code 1).

**The warm worker** (``python -m braingen3d.worker --persistent``) stays alive between requests and keeps
the last bundle loaded. It reads one JSON object per line: a request, which may carry an ``id`` (a string
or an integer) that every event of that request repeats, or a control message ``{"control": "cancel"}``
(stop the running request at its next step boundary: it ends with an ``error`` of kind ``cancelled``) or
``{"control": "shutdown"}``. Each request ends with ``done`` or ``error``; the worker then reads the next
one. ``started`` is sent once, with ``persistent: true``. A line that is not a request gets an ``error``
of kind ``invalid_input`` and the worker goes on; after running out of memory it exits, so the next
request starts a fresh worker. Without requests for ``--idle-timeout`` seconds it exits by itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

EVENTS = ("started", "log", "progress", "result", "error", "done")
ERROR_KINDS = ("invalid_input", "bundle", "out_of_memory", "cancelled", "internal")
"""``invalid_input``: the request or its files; ``bundle``: the model bundle; ``out_of_memory``; ``cancelled``;
``internal``: anything else (a bug)."""
EXPORT_FORMATS = ("nifti", "nrrd", "seg.nrrd", "dicom")
CONTROLS = ("cancel", "shutdown")
"""The warm worker's control messages: ``{"control": "cancel"}`` and ``{"control": "shutdown"}``."""
REQUEST_ID = "id"
MAX_LINE_CHARACTERS = 1 << 20
"""The longest request line the warm worker reads (requests carry paths, not data)."""


class ProtocolError(ValueError):
    """A request that does not follow the protocol; the worker reports it as ``invalid_input``."""

    kind = "invalid_input"


# JSON type of each kind of field, for the checks and their messages.
_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
                                       "list": (list,)}


@dataclass
class _Task:
    task: ClassVar[str] = ""
    # field name -> (JSON kind, may be null, required)
    schema: ClassVar[dict[str, tuple[str, bool, bool]]] = {}

    def to_json(self) -> dict[str, Any]:
        """The request object, ``task`` first."""
        return {"task": self.task, **asdict(self)}


@dataclass
class GenerateTask(_Task):
    """``generate``: volumes written as NIfTI into ``output_dir``, one ``result`` output per volume."""

    output_dir: str
    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    guidance: float | None = None
    sampler: str | None = None
    seed: int | None = None
    num_volumes: int = 1
    unconditional: bool = False
    structure_guidance: float | None = None
    bundle: str | None = None
    device: str | None = "auto"

    task: ClassVar[str] = "generate"
    schema: ClassVar[dict[str, tuple[str, bool, bool]]] = {
        "output_dir": ("str", False, True), "prompt": ("str", False, False), "negative_prompt": ("str", False, False),
        "steps": ("int", True, False), "guidance": ("float", True, False), "sampler": ("str", True, False),
        "seed": ("int", True, False), "num_volumes": ("int", False, False), "unconditional": ("bool", False, False),
        "structure_guidance": ("float", True, False), "bundle": ("str", True, False), "device": ("str", True, False),
    }


@dataclass
class InpaintTask(_Task):
    """``inpaint``: the inpainted volume and its lesion mask written as NIfTI into ``output_dir``."""

    output_dir: str
    volume: str
    mask: str
    prompt: str | None = None
    negative_prompt: str | None = None
    steps: int | None = None
    guidance: float | None = None
    sampler: str | None = None
    seed: int | None = None
    method: str | None = "auto"
    blend_margin_mm: float | None = None
    resample_mask: bool = False
    resample_rounds: int | None = None
    jump_length: int | None = None
    attempts: int | None = None
    min_contrast: float | None = None
    bundle: str | None = None
    device: str | None = "auto"

    task: ClassVar[str] = "inpaint"
    schema: ClassVar[dict[str, tuple[str, bool, bool]]] = {
        "output_dir": ("str", False, True), "volume": ("str", False, True), "mask": ("str", False, True),
        "prompt": ("str", True, False), "negative_prompt": ("str", True, False), "steps": ("int", True, False),
        "guidance": ("float", True, False), "sampler": ("str", True, False), "seed": ("int", True, False),
        "method": ("str", True, False), "blend_margin_mm": ("float", True, False),
        "resample_mask": ("bool", False, False), "resample_rounds": ("int", True, False),
        "jump_length": ("int", True, False), "attempts": ("int", True, False), "min_contrast": ("float", True, False),
        "bundle": ("str", True, False), "device": ("str", True, False),
    }


@dataclass
class ExportTask(_Task):
    """``export``: ``volume`` (and its label ``mask``) in each of ``exports`` (``{"format", "output"}``), one after
    the other; ``result`` lists every written path with its format."""

    volume: str
    exports: list[dict[str, str]] = field(default_factory=list)
    mask: str | None = None
    modality: str | None = None
    overwrite: bool = False

    task: ClassVar[str] = "export"
    schema: ClassVar[dict[str, tuple[str, bool, bool]]] = {
        "volume": ("str", False, True), "exports": ("list", False, True), "mask": ("str", True, False),
        "modality": ("str", True, False), "overwrite": ("bool", False, False),
    }


@dataclass
class ProbeTask(_Task):
    """``probe``: the engine version and the devices this machine offers."""

    task: ClassVar[str] = "probe"
    schema: ClassVar[dict[str, tuple[str, bool, bool]]] = {}


TASKS: dict[str, type[_Task]] = {cls.task: cls for cls in (GenerateTask, InpaintTask, ExportTask, ProbeTask)}
"""Task name -> its request type."""


def parse_request(data: Any, complete: bool = False) -> _Task:
    """The typed request of a decoded JSON object.

    Args:
        data: the decoded request.
        complete: also require every field to be present (a client that states every setting, as the Slicer
            module does; the test stand-in worker checks it).

    Raises:
        ProtocolError: naming the first field that is missing or of the wrong type.
    """
    if not isinstance(data, dict):
        raise ProtocolError(f"The request must be a JSON object, not {_json_kind(data)}.")
    if "task" not in data:
        raise ProtocolError(f"The request has no 'task'; give one of {sorted(TASKS)}.")
    task = data["task"]
    if not isinstance(task, str):
        raise ProtocolError(f"The request field 'task' is {_json_kind(task)}, expected str: one of {sorted(TASKS)}.")
    if task not in TASKS:
        raise ProtocolError(f"Unknown task {task!r}; expected one of {sorted(TASKS)}.")
    cls = TASKS[task]
    unknown = sorted(set(data) - set(cls.schema) - {"task"})
    if unknown:
        raise ProtocolError(f"The {task} request has unknown field(s) {unknown}; its fields are {sorted(cls.schema)}.")
    values: dict[str, Any] = {}
    for name, (kind, nullable, required) in cls.schema.items():
        if name not in data or (data[name] is None and not nullable):
            if required or (complete and name not in data):
                raise ProtocolError(f"The {task} request needs '{name}'" + _needs(task, name))
            continue
        value = data[name]
        if value is not None and (not isinstance(value, _TYPES[kind]) or (kind != "bool" and isinstance(value, bool))):
            raise ProtocolError(f"The {task} request field '{name}' is {_json_kind(value)}, expected {kind}.")
        values[name] = value
    request = cls(**values)
    if isinstance(request, ExportTask):
        _check_exports(request.exports)
    return request


def _json_kind(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    for kind, types in (("null", (type(None),)), ("bool", (bool,)), ("int", (int,)), ("float", (float,)),
                        ("str", (str,)), ("list", (list,)), ("object", (dict,))):
        if isinstance(value, types):
            return kind
    return type(value).__name__


def _needs(task: str, name: str) -> str:
    hints = {"output_dir": ": the folder the outputs go to.", "volume": ": the path of the volume file.",
             "mask": ": the path of the mask file.",
             "exports": ": a non-empty list of {\"format\", \"output\"}."}
    return hints.get(name, ".")


def _check_exports(exports: list[Any]) -> None:
    if not exports:
        raise ProtocolError("The export request needs 'exports': a non-empty list of {\"format\", \"output\"}.")
    for item in exports:
        if not isinstance(item, dict) or item.get("format") not in EXPORT_FORMATS or not isinstance(item.get("output"), str):
            raise ProtocolError(f"Each export needs a 'format' ({', '.join(EXPORT_FORMATS)}) and an 'output' path; "
                                f"got {item!r}.")


def read_request(text: str, complete: bool = False) -> _Task:
    """``parse_request`` of a JSON text.

    Raises:
        ProtocolError: the text is empty, not JSON, nested too deeply, or not a valid request.
    """
    if not text or not text.strip():
        raise ProtocolError("The request is empty: send one JSON object with a 'task' "
                            f"({', '.join(sorted(TASKS))}) on the worker's standard input.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"The request is not valid JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("The request is nested too deeply to be a request; send a flat JSON object.") from None
    return parse_request(data, complete)


def split_request_id(data: Any) -> tuple[Any, str | int | None]:
    """A decoded warm-worker request without its ``id``, and the ``id``.

    Raises:
        ProtocolError: the ``id`` is neither a string nor an integer.
    """
    if not isinstance(data, dict) or REQUEST_ID not in data:
        return data, None
    data = dict(data)
    request_id = data.pop(REQUEST_ID)
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, (str, int))):
        raise ProtocolError(f"The request field 'id' is {_json_kind(request_id)}, expected str or int.")
    return data, request_id


def control_of(data: Any) -> str | None:
    """The control message a decoded line carries (``cancel``, ``shutdown``), or None for a request.

    Raises:
        ProtocolError: an unknown control message.
    """
    if not isinstance(data, dict) or "control" not in data:
        return None
    if data["control"] not in CONTROLS:
        raise ProtocolError(f"Unknown control {data['control']!r}; expected one of {list(CONTROLS)}.")
    return data["control"]


def event(name: str, **fields_: Any) -> dict[str, Any]:
    """An event object: ``{"event": name, **fields}``."""
    if name not in EVENTS:
        raise ValueError(f"Unknown event {name!r}; the protocol's events are {EVENTS}.")
    return {"event": name, **fields_}

