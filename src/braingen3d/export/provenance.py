"""Provenance records attached to every exported file.

The keys are the ones listed in ``docs/architecture.md`` (``synthetic``, ``generator``,
``engine_version``, ``task``, ``prompt``, ...). The exporters only insist on one of them: an export
is always marked synthetic. Everything else is carried through unchanged so that a file can be
traced back to the bundle, prompt and seed that made it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InvalidInputError

#: Header key (NRRD) holding the provenance as one JSON object.
NRRD_PROVENANCE_KEY = "braingen3d_provenance"
#: Header key (NRRD) that says the file is synthetic, whatever else a reader understands.
NRRD_SYNTHETIC_KEY = "braingen3d_synthetic"
#: Prefix of per-field NRRD keys (``braingen3d_seed`` ...), as the volume writer in ``braingen3d.io`` uses.
NRRD_KEY_PREFIX = "braingen3d_"
#: Text that starts every DICOM Image Comments value written by the exporters.
DICOM_COMMENT_PREFIX = "SYNTHETIC IMAGE - not acquired from a patient. BrainGen3D provenance: "


def _to_json_value(value: Any) -> Any:
    """Turn numpy scalars/arrays and paths into plain JSON values; refuse what cannot be stored."""
    if isinstance(value, Mapping):
        return {str(k): _to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return _to_json_value(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InvalidInputError(
        f"Provenance value {value!r} of type {type(value).__name__} cannot be stored as JSON. "
        "Convert it to a string, number, list or dict."
    )


def normalise_provenance(provenance: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a provenance mapping and return a JSON-ready copy with ``synthetic`` set to ``True``.

    Args:
        provenance: the generation record (keys from ``docs/architecture.md``). ``None`` is accepted
            and gives ``{"synthetic": True}``, for exports of hand-made masks.

    Raises:
        InvalidInputError: ``provenance`` is not a mapping, says ``synthetic`` is false, or holds a
            value that cannot be stored as JSON.
    """
    if provenance is None:
        provenance = {}
    if not isinstance(provenance, Mapping):
        raise InvalidInputError(f"provenance must be a dict, got {type(provenance).__name__}.")
    if provenance.get("synthetic", True) is not True:
        raise InvalidInputError(
            "provenance['synthetic'] must be True: BrainGen3D exporters only write synthetic data and mark it so."
        )
    record = _to_json_value(provenance)
    record["synthetic"] = True
    return record


def provenance_json(provenance: Mapping[str, Any]) -> str:
    """Single-line, key-sorted, ASCII-only JSON of ``provenance`` (safe for NRRD header values)."""
    return json.dumps(normalise_provenance(provenance), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def provenance_digest(provenance: Mapping[str, Any], length: int = 12) -> str:
    """A short stable hex digest of the provenance, used for synthetic identifiers."""
    return hashlib.sha256(provenance_json(provenance).encode("utf-8")).hexdigest()[:length]


def nifti_descrip(what: str) -> str:
    """The NIfTI ``descrip`` text (at most 80 bytes) that marks a file synthetic."""
    text = f"SYNTHETIC BrainGen3D {what}; provenance in JSON sidecar"
    return text.encode("ascii", "replace")[:80].decode("ascii")


def sidecar_text(provenance: Mapping[str, Any], export_info: Mapping[str, Any] | None = None) -> str:
    """Pretty JSON for a sidecar: the provenance keys at top level, plus ``export`` describing the file."""
    record = normalise_provenance(provenance)
    if export_info:
        record["export"] = _to_json_value(export_info)
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
