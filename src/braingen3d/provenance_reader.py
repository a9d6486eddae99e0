"""Reading provenance back from any output file the engine writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InvalidInputError


def read_provenance(path: Path) -> dict[str, Any]:
    """Provenance of a NIfTI, NRRD, .seg.nrrd, DICOM file or JSON sidecar written by BrainGen3D."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path} does not exist.")
    name = path.name.lower()
    if name.endswith(".json"):
        return json.loads(path.read_text(encoding="utf-8"))
    if name.endswith((".nii", ".nii.gz")):
        from .io.nifti import nifti_provenance

        found = nifti_provenance(path)
    elif name.endswith(".nrrd"):
        import nrrd

        from .io.nrrd_io import PROVENANCE_KEY

        header = nrrd.read_header(str(path))
        found = json.loads(header[PROVENANCE_KEY]) if PROVENANCE_KEY in header else None
    else:
        try:
            from .export.provenance import read_dicom_provenance
        except ImportError as exc:
            raise InvalidInputError(f"{path}: unsupported file type for provenance.") from exc
        found = read_dicom_provenance(path)
    if found is None:
        from .io.paths import sidecar_path

        try:
            sidecar = sidecar_path(path)
        except InvalidInputError:
            sidecar = None
        if sidecar is not None and sidecar.is_file():
            return json.loads(sidecar.read_text(encoding="utf-8"))
        raise InvalidInputError(f"{path} carries no BrainGen3D provenance; it was not written by BrainGen3D.")
    return found
