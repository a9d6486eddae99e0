"""Read the provenance back from any file BrainGen3D exports.

Where each format keeps it:

* NIfTI: the JSON sidecar ``<stem>.json`` (full record); in an nnU-Net dataset,
  ``provenance/<case>.json``; else a JSON header extension (as ``braingen3d.io`` writes); failing
  all, the ``descrip`` field (synthetic flag only).
* NRRD / ``.seg.nrrd``: the header key ``braingen3d_provenance`` (JSON), and per-field
  ``braingen3d_<key>`` header keys as written by ``braingen3d.io``.
* DICOM (a file or a series folder): Synthetic Data (0008,001C) and the JSON in Image Comments.
* JSON sidecars themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import nrrd

from ..core.errors import BrainGenError, InputNotFoundError, InvalidInputError
from ..io.paths import sidecar_path
from .provenance import (
    DICOM_COMMENT_PREFIX,
    NRRD_KEY_PREFIX,
    NRRD_PROVENANCE_KEY,
    NRRD_SYNTHETIC_KEY,
)


class ProvenanceNotFoundError(InvalidInputError):
    """The file exists but carries no BrainGen3D provenance."""


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("yes", "true", "1")


def _from_json_file(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInputError(f"{path} is not a readable JSON provenance sidecar: {error}") from error
    if isinstance(record, dict) and isinstance(record.get("provenance"), dict):
        record = record["provenance"]  # sidecars that nest the record under "provenance"
    if not isinstance(record, dict):
        raise InvalidInputError(f"{path} holds JSON but not a provenance object.")
    return record


def _nnunet_sidecar(path: Path, name_without_ending: str) -> Path | None:
    """``provenance/<case>.json`` for a file in an nnU-Net dataset's ``imagesTr``/``labelsTr``."""
    if path.parent.name not in ("imagesTr", "labelsTr", "imagesTs"):
        return None
    case = name_without_ending
    if path.parent.name.startswith("images") and len(case) > 5 and case[-5] == "_" and case[-4:].isdigit():
        case = case[:-5]
    candidate = path.parent.parent / "provenance" / f"{case}.json"
    return candidate if candidate.is_file() else None


def _from_nifti(path: Path) -> dict[str, Any]:
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        return _from_json_file(sidecar)
    name = path.name[: -len(".nii.gz")] if path.name.lower().endswith(".nii.gz") else path.stem
    nnunet = _nnunet_sidecar(path, name)
    if nnunet is not None:
        return _from_json_file(nnunet)
    try:
        header = nib.load(path).header
    except Exception as error:  # nibabel raises many types for unreadable files
        raise InvalidInputError(f"{path} is not a readable NIfTI file ({error}). It may be truncated or not a NIfTI "
                                "at all; pass the file braingen3d wrote, or its JSON sidecar.") from error
    for extension in header.extensions:  # braingen3d.io also embeds the record as a JSON comment extension
        try:
            record = json.loads(extension.get_content())
        except (ValueError, TypeError):
            continue
        if isinstance(record, dict) and ("synthetic" in record or record.get("generator") == "BrainGen3D"):
            return record
    descrip = bytes(header["descrip"]).rstrip(b"\0").decode("ascii", "replace")
    if "SYNTHETIC" in descrip.upper():
        return {"synthetic": True, "descrip": descrip}
    raise ProvenanceNotFoundError(
        f"{path} has no BrainGen3D sidecar ({sidecar.name}) and its descrip does not say SYNTHETIC."
    )


def _parse_header_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _from_nrrd(path: Path) -> dict[str, Any]:
    try:
        header = nrrd.read_header(str(path))
    except Exception as error:  # pynrrd raises its own error types for malformed headers
        raise InvalidInputError(f"{path} is not a readable NRRD file: {error}") from error
    record: dict[str, Any] = {}
    for key, value in header.items():
        if key.startswith(NRRD_KEY_PREFIX) and key not in (NRRD_PROVENANCE_KEY, NRRD_SYNTHETIC_KEY):
            record[key[len(NRRD_KEY_PREFIX) :]] = _parse_header_value(value)
    if NRRD_PROVENANCE_KEY in header:
        try:
            record.update(json.loads(header[NRRD_PROVENANCE_KEY]))
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"{path}: header key {NRRD_PROVENANCE_KEY} is not valid JSON: {error}") from error
    if NRRD_SYNTHETIC_KEY in header:
        record["synthetic"] = _truthy(header[NRRD_SYNTHETIC_KEY])
    elif "synthetic" in record:
        record["synthetic"] = _truthy(record["synthetic"])
    if not record:
        raise ProvenanceNotFoundError(f"{path} has no braingen3d_* header keys.")
    return record


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _from_dicom(path: Path) -> dict[str, Any]:
    try:
        import pydicom
    except ImportError as error:
        raise InvalidInputError("Reading DICOM provenance needs pydicom: pip install 'braingen3d[export]'.") from error
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as error:  # pydicom raises many types for unreadable files
        raise InvalidInputError(f"{path} is not a readable DICOM file ({error}). Pass a file of the exported "
                                "series.") from error
    record: dict[str, Any] = {}
    comments = str(ds.get("ImageComments", ""))
    if comments.startswith(DICOM_COMMENT_PREFIX):
        try:
            record.update(json.loads(comments[len(DICOM_COMMENT_PREFIX) :]))
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"{path}: the provenance in Image Comments is not valid JSON: {error}") from error
    synthetic = ds.get("SyntheticData")
    if synthetic is None and not record:
        raise ProvenanceNotFoundError(f"{path} has neither Synthetic Data (0008,001C) nor BrainGen3D Image Comments.")
    if synthetic is not None:
        record["synthetic"] = str(synthetic).upper() == "YES"
    return record


def read_provenance(path: str | Path) -> dict[str, Any]:
    """Read the provenance record of an exported file.

    Args:
        path: a NIfTI (``.nii``/``.nii.gz``), NRRD (``.nrrd``/``.seg.nrrd``/``.nhdr``), DICOM file,
            DICOM series folder, or JSON sidecar.

    Returns:
        the provenance dict; it always has ``synthetic`` (a bool) when the file says it.

    Raises:
        InputNotFoundError: ``path`` does not exist (an ``InvalidInputError`` and a ``FileNotFoundError``).
        ProvenanceNotFoundError: the file carries no BrainGen3D provenance.
        InvalidInputError: the file type is not supported or the record is unreadable.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path} does not exist. Check the path of the file to read.")
    try:
        return _read_provenance(path)
    except OSError as error:  # permissions, a device, an I/O error: a read-side problem
        if isinstance(error, BrainGenError):
            raise
        raise InvalidInputError(f"{path} cannot be read ({error.strerror or error}). Check the file and its "
                                "permissions.") from error


def _read_provenance(path: Path) -> dict[str, Any]:
    if path.is_dir():
        dicom_files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and _is_dicom(p))
        if not dicom_files:
            raise InvalidInputError(f"{path} is a folder without DICOM files; pass a file.")
        return _from_dicom(dicom_files[0])
    name = path.name.lower()
    if name.endswith((".nii.gz", ".nii")):
        return _from_nifti(path)
    if name.endswith((".nrrd", ".nhdr")):
        return _from_nrrd(path)
    if name.endswith(".json"):
        return _from_json_file(path)
    if name.endswith(".dcm") or _is_dicom(path):
        return _from_dicom(path)
    raise InvalidInputError(f"{path}: unsupported file type for provenance (use NIfTI, NRRD, DICOM or a JSON sidecar).")
