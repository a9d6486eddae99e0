"""OASIS-1 (cross-sectional) adapter: ``oasis_cross-sectional.csv`` plus the processed MPRAGE.

Each session folder ``OAS1_<nnnn>_MR<k>`` (inside ``disc1``...``disc12``) holds the atlas-registered,
bias-corrected T1 ``PROCESSED/MPRAGE/T88_111/OAS1_<nnnn>_MR<k>_mpr_n<m>_anon_111_t88_masked_gfc.img``
(Analyze 7.5 with its ``.hdr``; ``_t88_gfc`` is the same before brain masking) and its FSL FAST
segmentation ``FSL_SEG/..._t88_masked_gfc_fseg.img`` (0 background, 1 CSF, 2 GM, 3 WM: the
label values match BrainGen3D's, but ventricles are not separated from other CSF). The CSV has
``ID`` (the session name), ``M/F``, ``Age`` and clinical scores (MMSE, CDR, eTIV, nWBV, ...);
``MR2`` sessions are repeat scans of the reliability subset.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from braingen3d.core.errors import InvalidInputError

from .common import assign_split, format_age, image_row, read_table

logger = logging.getLogger(__name__)

SESSION = re.compile(r"^(?P<subject>OAS1_\d{4})_MR\d+$")


def _one(folder: Path, pattern: str) -> Path | None:
    matches = sorted(folder.glob(pattern)) if folder.is_dir() else []
    if len(matches) > 1:
        logger.warning("Several files match %s in %s; using %s.", pattern, folder, matches[0].name)
    return matches[0] if matches else None


def oasis1_rows(
    root: str | Path,
    table: str | Path,
    manifest_folder: str | Path,
    masked: bool = True,
    with_segmentation: bool = True,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> list[dict[str, str]]:
    """Manifest rows for every OASIS-1 session under ``root``.

    Args:
        root: folder holding the ``disc*`` folders (or the session folders directly).
        table: ``oasis_cross-sectional.csv``.
        manifest_folder: folder of the manifest to be written.
        masked: use the brain-masked image (``_t88_masked_gfc``) rather than ``_t88_gfc``.
        with_segmentation: add the FSL_SEG tissue map when present.
        test_fraction: fraction of subjects held out (repeat sessions follow their subject).
        seed: seed of the split.

    Raises:
        InvalidInputError: if the table lacks columns or no session image is found.
    """
    root = Path(root)
    records = read_table(Path(table))
    needed = {"ID", "M/F", "Age"}
    if records and not needed <= set(records[0]):
        raise InvalidInputError(f"{Path(table).name} must have columns ID, M/F and Age; found {list(records[0])}.")
    demographics = {r["ID"]: r for r in records}
    suffix = "t88_masked_gfc" if masked else "t88_gfc"
    rows, missing = [], 0
    for folder in sorted(p for p in root.rglob("OAS1_*_MR*") if p.is_dir()):
        match = SESSION.match(folder.name)
        if not match:
            continue
        session = folder.name
        image = _one(folder / "PROCESSED" / "MPRAGE" / "T88_111", f"{session}_mpr_n*_anon_111_{suffix}.img")
        if image is None:
            missing += 1
            continue
        segmentation = _one(folder / "FSL_SEG", f"{session}_mpr_n*_anon_111_t88_masked_gfc_fseg.img") if with_segmentation else None
        record = demographics.get(session, {})
        age = record.get("Age", "")
        rows.append(image_row(
            session, image, "T1", format_age(float(age)) if age else "", record.get("M/F", ""), "OASIS-1",
            assign_split(match["subject"], test_fraction, seed), Path(manifest_folder), tissue_map=segmentation,
        ))
    if missing:
        logger.warning("%d OASIS-1 sessions lack a processed %s image and were skipped.", missing, suffix)
    if not rows:
        raise InvalidInputError(f"No OASIS-1 session (OAS1_nnnn_MRk/PROCESSED/MPRAGE/T88_111/*_{suffix}.img) was found under {root}.")
    logger.info("Found %d OASIS-1 sessions.", len(rows))
    return rows
