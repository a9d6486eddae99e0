"""Helpers shared by the dataset adapters: split assignment, tabular files, manifest rows."""

from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path

from braingen3d.core.errors import InvalidInputError

from ..manifest import relative_to

logger = logging.getLogger(__name__)


def assign_split(group: str, test_fraction: float, seed: int = 0) -> str:
    """``"test"`` for a stable pseudo-random ``test_fraction`` of groups, else ``"train"``.

    The choice depends only on the group name and seed (not on which other subjects exist), so
    adding subjects never moves existing ones between splits. Use the subject (not the session)
    as the group so that repeat scans share a split.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise InvalidInputError(f"The held-out fraction must be in [0, 1); got {test_fraction}.")
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


def read_table(path: Path, delimiter: str | None = None) -> list[dict[str, str]]:
    """Rows of a CSV/TSV file as dicts of stripped strings (delimiter from the suffix by default).

    Raises:
        InvalidInputError: if the file is missing or has no header.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Table {path} does not exist.")
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        if not reader.fieldnames:
            raise InvalidInputError(f"Table {path} has no header row.")
        return [{(key or "").strip(): (value or "").strip() for key, value in row.items()} for row in reader]


def image_row(
    subject_id: str,
    image: Path,
    modality: str,
    age: str,
    sex: str,
    dataset: str,
    split: str,
    manifest_folder: Path,
    tissue_map: Path | None = None,
    lesion_mask: Path | None = None,
) -> dict[str, str]:
    """A manifest row with paths relative to the manifest's folder where possible."""
    return {
        "subject_id": subject_id,
        "image": relative_to(image, manifest_folder),
        "modality": modality,
        "age": age,
        "sex": sex,
        "tissue_map": relative_to(tissue_map, manifest_folder) if tissue_map else "",
        "lesion_mask": relative_to(lesion_mask, manifest_folder) if lesion_mask else "",
        "dataset": dataset,
        "caption": "",
        "split": split,
    }


def format_age(value: float | None) -> str:
    """Manifest text for an age (empty when unknown)."""
    return "" if value is None else f"{value:g}"
