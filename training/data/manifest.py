"""The training manifest: one CSV row per image, with validation that names row and column.

Columns (paths are relative to the manifest's folder, absolute paths are allowed):

========== ======== ==========================================================
column     required meaning
========== ======== ==========================================================
subject_id yes      subject identifier (one subject may have several rows)
image      yes      path of the image (NIfTI)
modality   yes      ``T1``, ``T2``, ``FLAIR`` or ``PD``
age        no*      age in years (empty if unknown)
sex        no*      ``F`` or ``M`` (empty if unknown)
tissue_map no*      label map (0 bg, 1 CSF, 2 GM, 3 WM, 4 lateral ventricles, 5 lesion)
lesion_mask no*     binary white-matter lesion mask
dataset    yes      dataset name, e.g. ``IXI``
caption    no*      caption that overrides the generated ones
split      yes      ``train``, ``val`` or ``test``
========== ======== ==========================================================

(*) the column must exist in the header but the cell may be empty. Further columns are kept;
the measurement columns of :data:`training.captions.measure.MEASUREMENT_COLUMNS`
(``ventricles_ml``...) must be numbers when present.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Iterable, Mapping

from braingen3d.core.errors import InvalidInputError
from braingen3d.prompts.vocabulary import MODALITIES

from ..captions.measure import MEASUREMENT_COLUMNS
from ..captions.norms import parse_age, parse_sex
from .atomic import write_text_atomic

logger = logging.getLogger(__name__)

COLUMNS = ("subject_id", "image", "modality", "age", "sex", "tissue_map", "lesion_mask", "dataset", "caption", "split")
REQUIRED_VALUES = ("subject_id", "image", "modality", "dataset", "split")
PATH_COLUMNS = ("image", "tissue_map", "lesion_mask")
SPLITS = ("train", "val", "test")


class ManifestError(InvalidInputError):
    """A manifest is malformed; the message names the file, row and column."""


def _where(source: str, line: int | None, column: str | None) -> str:
    parts = [source]
    if line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


def validate_row(row: Mapping[str, object], source: str = "manifest", line: int | None = None) -> dict[str, str]:
    """Check one row and return it normalised (strings, ``F``/``M`` sex, age as a plain number).

    Args:
        row: the row.
        source: name of the manifest, for messages.
        line: its line number in the file, for messages.

    Raises:
        ManifestError: naming the row and column of the first problem.
    """
    clean = {key: ("" if value is None else str(value).strip()) for key, value in row.items()}
    for column in REQUIRED_VALUES:
        if not clean.get(column):
            raise ManifestError(f"{_where(source, line, column)}: the value is empty; every row needs a {column}.")
    if clean["modality"] not in MODALITIES:
        raise ManifestError(f"{_where(source, line, 'modality')}: {clean['modality']!r} is not one of {', '.join(MODALITIES)}.")
    if clean["split"] not in SPLITS:
        raise ManifestError(f"{_where(source, line, 'split')}: {clean['split']!r} is not one of {', '.join(SPLITS)}.")
    try:
        age = parse_age(clean.get("age"))
    except InvalidInputError as error:
        raise ManifestError(f"{_where(source, line, 'age')}: {error}") from error
    try:
        sex = parse_sex(clean.get("sex"))
    except InvalidInputError as error:
        raise ManifestError(f"{_where(source, line, 'sex')}: {error}") from error
    clean["age"] = "" if age is None else f"{age:g}"
    clean["sex"] = sex or ""
    for column in MEASUREMENT_COLUMNS:
        if clean.get(column):
            try:
                float(clean[column])
            except ValueError as error:
                raise ManifestError(f"{_where(source, line, column)}: {clean[column]!r} is not a number.") from error
    for column in COLUMNS:
        clean.setdefault(column, "")
    return clean


def read_manifest(path: str | Path, resolve_paths: bool = True, check_files: bool = False) -> list[dict[str, str]]:
    """Read and validate a manifest.

    Args:
        path: the CSV file.
        resolve_paths: make relative paths absolute (relative to the manifest's folder).
        check_files: also check that every referenced file exists.

    Returns:
        One dict per row, normalised by :func:`validate_row`.

    Raises:
        ManifestError: if the file, its header or any row is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"Manifest {path} does not exist; create it with a dataset adapter (python -m training.data.adapters ...).")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [column for column in COLUMNS if column not in header]
        if missing:
            raise ManifestError(f"{path}: the header lacks column(s) {', '.join(missing)}; expected at least {', '.join(COLUMNS)}.")
        rows = []
        seen = set()
        for row in reader:
            line = reader.line_num
            if None in row:
                raise ManifestError(f"{_where(str(path), line, None)}: the row has more cells than the header.")
            clean = validate_row(row, str(path), line)
            key = (clean["subject_id"], clean["modality"], clean["image"])
            if key in seen:
                raise ManifestError(f"{_where(str(path), line, 'image')}: duplicate row for subject {clean['subject_id']} ({clean['modality']}).")
            seen.add(key)
            for column in PATH_COLUMNS:
                value = clean.get(column, "")
                if not value:
                    continue
                resolved = Path(value) if Path(value).is_absolute() else path.parent / value
                if check_files and not resolved.is_file():
                    raise ManifestError(f"{_where(str(path), line, column)}: file {resolved} does not exist.")
                if resolve_paths:
                    clean[column] = str(resolved)
            rows.append(clean)
    if not rows:
        raise ManifestError(f"{path}: the manifest has no rows.")
    return rows


def manifest_text(rows: Iterable[Mapping[str, object]], extra_columns: Iterable[str] = ()) -> str:
    """CSV text of validated ``rows`` with the standard columns first, then ``extra_columns``."""
    extras = [column for column in extra_columns if column not in COLUMNS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, *extras], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for number, row in enumerate(rows, start=1):
        writer.writerow(validate_row(row, "rows to write", number))
    return buffer.getvalue()


def write_manifest(path: str | Path, rows: Iterable[Mapping[str, object]], extra_columns: Iterable[str] = ()) -> Path:
    """Validate ``rows`` and write them as a manifest, atomically.

    Args:
        path: destination CSV.
        rows: dict rows with at least the required columns.
        extra_columns: further columns to keep (e.g. measurements).

    Returns:
        The path written.
    """
    path = Path(path)
    rows = list(rows)
    if not rows:
        raise ManifestError(f"Refusing to write an empty manifest to {path}: no images were found.")
    write_text_atomic(path, manifest_text(rows, extra_columns))
    logger.info("Wrote %d rows to %s.", len(rows), path)
    return path


def relative_to(path: str | Path, folder: str | Path) -> str:
    """``path`` relative to ``folder`` when it lies inside it, else absolute (for manifest cells)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(Path(folder).resolve()).as_posix()
    except ValueError:
        return str(path)
