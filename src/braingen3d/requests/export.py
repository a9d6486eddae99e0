"""The export request: a file written by braingen3d (and its label mask) to NIfTI, NRRD, Slicer .seg.nrrd or DICOM.

Used by the CLI (``braingen3d export``) and the worker's ``export`` task (the Slicer module); ``validate`` checks
every field before any file is read. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import InvalidInputError
from ..prompts.parser import MAX_AGE
from ..prompts.vocabulary import MODALITIES

FORMATS = {
    "nifti": "volume as .nii.gz (+ JSON sidecar); with --mask also a NIfTI label map",
    "nrrd": "volume as .nrrd; with --mask also a Slicer segmentation (.seg.nrrd)",
    "seg.nrrd": "only the --mask, as a Slicer segmentation on the volume's grid",
    "dicom": "a folder with the MR series (image/) and, with --mask, a DICOM SEG referencing it (segmentation.dcm)",
}
SEGMENTS = ("auto", "lesion", "tissue")
"""What label values mean: lesion (1 = white-matter lesion), tissue (1 CSF ... 5 lesion) or auto (from the values)."""
PATIENT_SEXES = ("F", "M", "O")
LABEL_SUFFIX = "_label"


@dataclass(frozen=True)
class ExportRequest:
    """One export of one volume in one format.

    Args:
        volume: a volume written by braingen3d (.nii, .nii.gz or .nrrd) with its provenance.
        format: one of ``FORMATS``.
        output: the output file (nifti: .nii.gz/.nii, nrrd: .nrrd, seg.nrrd: .seg.nrrd) or folder (dicom).
        mask: a label mask on the volume's grid (0 = background); ``seg.nrrd`` needs one.
        mask_output: where the label goes for nifti and nrrd (default: ``output`` with ``_label`` before the suffix).
        segments: ``auto``, ``lesion`` or ``tissue`` (``SEGMENTS``).
        modality: DICOM contrast (default: from the provenance or the prompt).
        patient_age: DICOM Patient's Age of the synthetic subject (default: from the provenance or the prompt).
        patient_sex: DICOM Patient's Sex, F, M or O (default: from the provenance or the prompt).
        overwrite: replace existing outputs (inputs are never replaced).
    """

    volume: Path
    format: str
    output: Path
    mask: Path | None = None
    mask_output: Path | None = None
    segments: str = "auto"
    modality: str | None = None
    patient_age: int | None = None
    patient_sex: str | None = None
    overwrite: bool = False

    def validated(self) -> "ExportRequest":
        """This request with paths as ``Path`` and every field checked.

        Raises:
            InvalidInputError: naming the first bad field and the fix.
        """
        if self.format not in FORMATS:
            raise InvalidInputError(f"Unknown export format {self.format!r}; choose one of {', '.join(FORMATS)}.")
        if self.format == "seg.nrrd" and self.mask is None:
            raise InvalidInputError("--to seg.nrrd exports a label mask; pass --mask MASK (the volume gives the grid and "
                                    "provenance).")
        if self.mask_output is not None and self.format not in ("nifti", "nrrd"):
            raise InvalidInputError("--mask-output applies to --to nifti and --to nrrd only.")
        if self.segments not in SEGMENTS:
            raise InvalidInputError(f"Unknown segments {self.segments!r}; choose one of {', '.join(SEGMENTS)}.")
        if self.modality is not None and self.modality not in MODALITIES:
            raise InvalidInputError(f"Unknown modality {self.modality!r}; choose one of {', '.join(MODALITIES)}.")
        age = self.patient_age
        if age is not None and (isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= MAX_AGE):
            raise InvalidInputError(f"--patient-age must be a whole number of years from 0 to {MAX_AGE}; got {age!r}.")
        if self.patient_sex is not None and self.patient_sex not in PATIENT_SEXES:
            raise InvalidInputError(f"Unknown patient sex {self.patient_sex!r}; choose one of {', '.join(PATIENT_SEXES)}.")
        output = Path(self.output)
        name = output.name.lower()
        if self.format == "seg.nrrd" and not name.endswith(".seg.nrrd"):
            raise InvalidInputError(f"--to seg.nrrd writes a Slicer segmentation; -o must end in .seg.nrrd (got {output}).")
        if self.format in ("nifti", "nrrd"):
            suffixes = {"nifti": (".nii.gz", ".nii"), "nrrd": (".nrrd",)}[self.format]
            if not name.endswith(suffixes) or name.endswith(".seg.nrrd"):
                raise InvalidInputError(f"--to {self.format}: -o must end in {' or '.join(suffixes)} (got {output}).")
        return replace(self, volume=Path(self.volume), output=output,
                       mask=None if self.mask is None else Path(self.mask),
                       mask_output=None if self.mask_output is None else Path(self.mask_output))
