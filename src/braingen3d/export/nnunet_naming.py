"""nnU-Net v2 naming rules for raw datasets and cases.

nnU-Net finds a dataset by the folder name ``Dataset%03d_<Name>`` under ``nnUNet_raw`` and reads the
ID back as ``int(folder_name[7:10])``, so IDs are 1..999 with exactly three digits. The name is free
text for nnU-Net, but it becomes a folder name in ``nnUNet_raw``, ``nnUNet_preprocessed`` and
``nnUNet_results`` and part of command lines, so only letters, digits, ``_`` and ``-`` are accepted.
Case identifiers become file names ``<case>_0000.nii.gz`` and follow the same character rule.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..core.errors import InvalidInputError

_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_MAX_NAME_LENGTH = 64
_MAX_CASE_LENGTH = 100
_DATASET_FOLDER = re.compile(r"Dataset(\d{3})_(.+)")


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """``Dataset%03d_<name>`` after checking both parts against nnU-Net's rules.

    Raises:
        InvalidInputError: the ID is not an integer in 1..999, or the name is empty, too long, or
            holds characters other than letters, digits, ``_`` and ``-``.
    """
    if isinstance(dataset_id, bool) or not isinstance(dataset_id, int):
        raise InvalidInputError(f"nnU-Net dataset id must be an integer 1..999, got {dataset_id!r}.")
    if not 1 <= dataset_id <= 999:
        raise InvalidInputError(
            f"nnU-Net dataset id {dataset_id} is out of range: nnU-Net uses three-digit ids 1..999 "
            "(folder Dataset%03d_Name). Pick an unused id, e.g. 500 or above for your own datasets."
        )
    if not isinstance(name, str) or not name:
        raise InvalidInputError("nnU-Net dataset name must be a non-empty string such as 'SyntheticLesions'.")
    if name.startswith("Dataset"):
        raise InvalidInputError(
            f"Pass the dataset name without the 'DatasetNNN_' prefix (got {name!r}); the id is given separately."
        )
    if len(name) > _MAX_NAME_LENGTH or not _NAME_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"nnU-Net dataset name {name!r} is not allowed: use at most {_MAX_NAME_LENGTH} letters, digits, "
            "'_' or '-', starting with a letter or digit (no spaces, dots or slashes)."
        )
    return f"Dataset{dataset_id:03d}_{name}"


def check_case_id(case_id: str) -> str:
    """Return ``case_id`` if it is a valid nnU-Net case identifier, else raise InvalidInputError."""
    if not isinstance(case_id, str) or len(case_id) > _MAX_CASE_LENGTH or not _NAME_PATTERN.fullmatch(case_id):
        raise InvalidInputError(
            f"case id {case_id!r} is not allowed: use at most {_MAX_CASE_LENGTH} letters, digits, '_' or '-', "
            "starting with a letter or digit (e.g. 'synth_0001')."
        )
    return case_id


def conflicting_datasets(root: Path, dataset_id: int, name: str) -> list[str]:
    """Other folders under ``root`` with the same id: nnU-Net refuses to pick between them."""
    if not root.is_dir():
        return []
    wanted = dataset_folder_name(dataset_id, name)
    conflicts = []
    for child in root.iterdir():
        match = _DATASET_FOLDER.fullmatch(child.name)
        if child.is_dir() and match and int(match.group(1)) == dataset_id and child.name != wanted:
            conflicts.append(child.name)
    return sorted(conflicts)
