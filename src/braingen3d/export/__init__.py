"""Export writers for segmentation workflows: label maps, Slicer segmentations, nnU-Net datasets, DICOM.

Every function takes the engine's conventions: a float32 volume and/or uint8 label mask in nibabel
(i, j, k) order, a 4x4 voxel-to-RAS affine, and a provenance dict (see ``docs/architecture.md``).
Every output says it is synthetic and can be traced back with :func:`read_provenance`.
See ``docs/export.md``.

The DICOM writers need the ``export`` extra (pydicom, highdicom); they are imported on first use so
that the rest works without it.
"""

from typing import Any

from .labels_nifti import export_labels_nifti
from .nnunet_writer import NnunetDatasetWriter
from .provenance_reader import ProvenanceNotFoundError, read_provenance
from .seg_nrrd import export_seg_nrrd
from .segments import LESION_SEGMENT, TISSUE_SEGMENTS, CodedTerm, SegmentSpec

__all__ = [
    "CodedTerm",
    "DicomSeries",
    "LESION_SEGMENT",
    "NnunetDatasetWriter",
    "ProvenanceNotFoundError",
    "SegmentSpec",
    "TISSUE_SEGMENTS",
    "export_dicom_seg",
    "export_dicom_series",
    "export_labels_nifti",
    "export_seg_nrrd",
    "read_provenance",
]

_DICOM = {
    "DicomSeries": "braingen3d.export.dicom_series",
    "export_dicom_series": "braingen3d.export.dicom_series",
    "export_dicom_seg": "braingen3d.export.dicom_seg",
}


def __getattr__(name: str) -> Any:
    if name in _DICOM:
        import importlib

        return getattr(importlib.import_module(_DICOM[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
