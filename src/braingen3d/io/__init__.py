"""Reading and writing volumes with geometry and provenance."""

from .atomic import atomic_path, atomic_write_text, check_writable
from .nifti import nifti_provenance, read_nifti, write_nifti
from .nrrd_io import read_nrrd, write_nrrd
from .paths import numbered, preview_path, sidecar_path
from .preview import write_preview
from .reader import read_volume
from .writer import check_outputs, output_paths, write_volume

__all__ = [
    "atomic_path", "check_outputs", "check_writable", "nifti_provenance", "numbered", "output_paths",
    "preview_path", "read_nifti", "read_nrrd", "read_volume", "sidecar_path", "write_nifti", "write_nrrd",
    "write_preview", "atomic_write_text", "write_volume",
]
