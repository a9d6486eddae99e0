"""IXI adapter: ``IXI.xls`` demographics plus the T1/T2/PD NIfTI files.

The IXI download holds one NIfTI per subject and contrast, named
``IXI<nnn>-<site>-<session>-<T1|T2|PD|MRA|DTI...>.nii.gz`` (e.g. ``IXI002-Guys-0828-T1.nii.gz``),
usually unpacked into one folder per contrast (``IXI-T1/``, ``IXI-T2/``, ``IXI-PD/``). The
demographics spreadsheet ``IXI.xls`` (sheet ``Table``) has one or more rows per ``IXI_ID``
(an integer: 2 for IXI002) with ``SEX_ID (1=m, 2=f)`` and ``AGE`` in years; 0 or an empty cell
means unknown, and some IDs appear more than once. A CSV export of that sheet works too.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from braingen3d.core.errors import InvalidInputError

from .common import assign_split, format_age, image_row, read_table

logger = logging.getLogger(__name__)

IXI_FILE = re.compile(r"^IXI(?P<number>\d+)-(?P<site>[A-Za-z]+)-(?P<session>\d+)-(?P<contrast>T1|T2|PD)\.nii(\.gz)?$")
SEX_CODES = {"1": "M", "2": "F"}


def _read_demographics_rows(path: Path) -> list[dict[str, str]]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return read_table(path)
    if suffix in (".xls", ".xlsx"):
        try:
            import pandas as pd

            sheets = pd.read_excel(path, sheet_name=None, dtype=str)
        except ImportError as error:
            engine = "xlrd" if suffix == ".xls" else "openpyxl"
            raise InvalidInputError(
                f"Reading {path.name} needs the {engine} package (pip install {engine}); or export the sheet to CSV and pass that."
            ) from error
        except (ValueError, OSError) as error:
            raise InvalidInputError(f"Cannot read {path}: {error}. Export the 'Table' sheet to CSV and pass that instead.") from error
        frame = sheets.get("Table", next(iter(sheets.values())))
        frame = frame.fillna("")
        return [{str(k).strip(): str(v).strip() for k, v in row.items()} for row in frame.to_dict("records")]
    raise InvalidInputError(f"IXI demographics must be IXI.xls, IXI.xlsx or a CSV export of it; got {path.name}.")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def read_ixi_demographics(path: str | Path) -> dict[int, tuple[float | None, str | None]]:
    """IXI number -> (age, sex) from ``IXI.xls``/``.xlsx`` or a CSV export of its ``Table`` sheet.

    Duplicate IDs are merged: known values win over missing ones; if two rows disagree, the first
    is kept and a warning logged.

    Raises:
        InvalidInputError: if the IXI_ID, SEX_ID or AGE column is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"IXI demographics file {path} does not exist (it is IXI.xls in the IXI download).")
    rows = _read_demographics_rows(path)
    header = list(rows[0]) if rows else []
    sex_column = next((c for c in header if c.upper().startswith("SEX")), None)
    if "IXI_ID" not in header or "AGE" not in header or sex_column is None:
        raise InvalidInputError(f"{path.name} must have columns IXI_ID, 'SEX_ID (1=m, 2=f)' and AGE; found {header}.")
    table: dict[int, tuple[float | None, str | None]] = {}
    for row in rows:
        number = _number(row["IXI_ID"])
        if number is None:
            continue
        age = _number(row["AGE"])
        sex = SEX_CODES.get(row[sex_column].split(".")[0])
        key = int(number)
        if key in table:
            old_age, old_sex = table[key]
            if (age is not None and old_age is not None and abs(age - old_age) > 0.01) or (sex and old_sex and sex != old_sex):
                logger.warning("IXI%03d has conflicting demographics rows; keeping the first.", key)
            table[key] = (old_age if old_age is not None else age, old_sex or sex)
        else:
            table[key] = (age, sex)
    return table


def ixi_rows(root: str | Path, demographics: str | Path, manifest_folder: str | Path, test_fraction: float = 0.1, seed: int = 0) -> list[dict[str, str]]:
    """Manifest rows for every IXI T1/T2/PD file under ``root``.

    Args:
        root: folder holding the IXI NIfTI files (searched recursively).
        demographics: ``IXI.xls`` or its CSV export.
        manifest_folder: folder of the manifest to be written (paths are made relative to it).
        test_fraction: fraction of subjects held out.
        seed: seed of the split.

    Raises:
        InvalidInputError: if no IXI image is found.
    """
    root = Path(root)
    table = read_ixi_demographics(demographics)
    rows, unknown = [], set()
    for path in sorted(root.rglob("IXI*")):
        match = IXI_FILE.match(path.name)
        if not match or not path.is_file():
            continue
        number = int(match["number"])
        subject = f"IXI{match['number']}-{match['site']}-{match['session']}"
        age, sex = table.get(number, (None, None))
        if number not in table:
            unknown.add(subject)
        rows.append(image_row(subject, path, match["contrast"], format_age(age), sex or "", "IXI", assign_split(subject, test_fraction, seed), Path(manifest_folder)))
    if not rows:
        raise InvalidInputError(f"No IXI T1/T2/PD files (IXI<nnn>-<site>-<session>-T1.nii.gz) were found under {root}.")
    if unknown:
        logger.warning("%d IXI subjects have no demographics row; their age and sex are left empty.", len(unknown))
    logger.info("Found %d IXI images of %d subjects.", len(rows), len({r['subject_id'] for r in rows}))
    return rows
