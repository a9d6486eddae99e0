"""File-name conventions for outputs and their sidecars."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import InvalidInputError

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".seg.nrrd")
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd")
"""What an image (a generated or inpainted volume) may be written as; ``.seg.nrrd`` holds segmentations only."""


def volume_suffix(path: Path) -> str:
    name = Path(path).name.lower()
    for suffix in sorted(VOLUME_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise InvalidInputError(f"Unsupported output type for {path}; use .nii.gz, .nii or .nrrd.")


def image_output_suffix(path: Path) -> str:
    """The suffix of an image output, refusing a folder, a ``.seg.nrrd`` and any other type by name.

    Raises:
        InvalidInputError: naming what ``path`` is and the fix.
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder; give a file name such as {path / 'brain.nii.gz'}.")
    suffix = volume_suffix(path)
    if suffix == ".seg.nrrd":
        raise InvalidInputError(f"{path}: a .seg.nrrd holds a Slicer segmentation, not an image. Write the volume as "
                                ".nii.gz, .nii or .nrrd (braingen3d export --to seg.nrrd makes a segmentation of a mask).")
    return suffix


def stem(path: Path) -> str:
    path = Path(path)
    return path.name[: -len(volume_suffix(path))]


def sidecar_path(path: Path) -> Path:
    """The JSON sidecar of an output: ``brain.nii.gz`` → ``brain.json``, ``lesion.seg.nrrd`` → ``lesion.json``,
    ``slice.dcm`` → ``slice.json``; any other name has its last suffix replaced."""
    path = Path(path)
    name = path.name.lower()
    for suffix in sorted((*VOLUME_SUFFIXES, ".dcm"), key=len, reverse=True):
        if name.endswith(suffix):
            return path.with_name(path.name[: -len(suffix)] + ".json")
    return path.with_suffix(".json")


def preview_path(path: Path) -> Path:
    """``brain.nii.gz`` → ``brain.png``."""
    return Path(path).with_name(stem(path) + ".png")


def numbered(path: Path, index: int, count: int) -> Path:
    """``brain.nii.gz`` → ``brain_002.nii.gz`` when a call writes several volumes."""
    if count == 1:
        return Path(path)
    return Path(path).with_name(f"{stem(path)}_{index + 1:03d}{volume_suffix(path)}")
