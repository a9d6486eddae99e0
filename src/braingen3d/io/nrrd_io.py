"""NRRD writing and reading (LPS space, as ITK and Slicer expect) with provenance keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nrrd
import numpy as np

from ..core.errors import InvalidInputError
from .atomic import atomic_path
from .finite import check_finite_voxels

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
PROVENANCE_KEY = "braingen3d_provenance"
SYNTHETIC_KEY = "braingen3d_synthetic"


def nrrd_geometry(affine: np.ndarray) -> dict[str, Any]:
    """``space directions`` (one row per axis) and ``space origin`` in LPS for a RAS ``affine``."""
    lps = RAS_TO_LPS @ np.asarray(affine, dtype=float)[:3]
    return {"space": "left-posterior-superior", "space directions": lps[:, :3].T, "space origin": lps[:, 3]}


def write_nrrd(path: Path, array: np.ndarray, affine: np.ndarray, provenance: dict[str, Any] | None = None,
               overwrite: bool = False, extra: dict[str, str] | None = None) -> Path:
    """Write a 3D ``array`` (i, j, k) as gzip NRRD with provenance header keys, atomically."""
    check_finite_voxels(array, Path(path))
    header: dict[str, Any] = {"kinds": ["domain"] * 3, "encoding": "gzip", **nrrd_geometry(affine)}
    if provenance:
        header[SYNTHETIC_KEY] = "YES"
        header[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True)
    header.update(extra or {})
    with atomic_path(Path(path), overwrite) as tmp:
        nrrd.write(str(tmp), np.asarray(array), header, index_order="F")
    return Path(path)


def read_nrrd_header(path: Path) -> dict[str, Any]:
    """The header of a NRRD file, without its voxels."""
    return dict(nrrd.read_header(str(path)))


def read_nrrd(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read a 3D NRRD as an (i, j, k) array, its RAS affine and its header."""
    try:
        array, header = nrrd.read(str(path), index_order="F")
    except Exception as exc:
        raise InvalidInputError(f"{path} is not a readable NRRD file ({exc}).") from exc
    space = header.get("space", "left-posterior-superior")
    directions = np.asarray(header["space directions"], dtype=float).T
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float)
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = directions, origin
    if space in ("left-posterior-superior", "LPS"):
        affine[:3] = RAS_TO_LPS @ affine[:3]
    elif space not in ("right-anterior-superior", "RAS"):
        raise InvalidInputError(f"{path}: NRRD space '{space}' is not supported; use LPS or RAS.")
    return array.astype(np.float32), affine, header
