"""BIDS adapter: ``participants.tsv`` plus ``sub-*/[ses-*/]anat/*_{T1w,T2w,FLAIR,PDw}.nii[.gz]``.

Age and sex come from ``participants.tsv`` (``participant_id``, ``age``, ``sex``; ``gender`` is
accepted for ``sex``); when a subject's age is missing there, a per-session ``age`` in
``sub-<label>/sub-<label>_sessions.tsv`` is used. ``derivatives/``, ``sourcedata/`` and
contrast-enhanced images (``ce-`` entity) are skipped. The dataset name comes from
``dataset_description.json``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from braingen3d.core.errors import InvalidInputError

from ...captions.norms import parse_age, parse_sex
from .common import assign_split, format_age, image_row, read_table

logger = logging.getLogger(__name__)

SUFFIX_TO_MODALITY = {"T1w": "T1", "T2w": "T2", "FLAIR": "FLAIR", "PDw": "PD"}
ANAT_FILE = re.compile(r"^(?P<entities>sub-[A-Za-z0-9]+(?:_[a-z]+-[A-Za-z0-9]+)*)_(?P<suffix>T1w|T2w|FLAIR|PDw)\.nii(\.gz)?$")
SKIPPED_FOLDERS = {"derivatives", "sourcedata", "code", "stimuli"}


def _entities(name: str) -> dict[str, str]:
    return dict(part.split("-", 1) for part in name.split("_") if "-" in part)


def _safe(parse, value, where: str):
    try:
        return parse(value)
    except InvalidInputError as error:
        logger.warning("%s: %s Left empty.", where, error)
        return None


def bids_rows(root: str | Path, manifest_folder: str | Path, test_fraction: float = 0.1, seed: int = 0, dataset: str | None = None) -> list[dict[str, str]]:
    """Manifest rows for the anatomical images of a BIDS dataset.

    Args:
        root: the BIDS dataset folder.
        manifest_folder: folder of the manifest to be written.
        test_fraction: fraction of subjects held out.
        seed: seed of the split.
        dataset: dataset name (default: ``Name`` in dataset_description.json, else the folder name).

    Raises:
        InvalidInputError: if ``root`` is not a BIDS dataset or holds no supported image.
    """
    root = Path(root)
    if not root.is_dir() or not any(root.glob("sub-*")):
        raise InvalidInputError(f"{root} is not a BIDS dataset (no sub-* folders).")
    if dataset is None:
        description = root / "dataset_description.json"
        dataset = root.name
        if description.is_file():
            try:
                dataset = json.loads(description.read_text()).get("Name") or root.name
            except json.JSONDecodeError:
                logger.warning("%s is not valid JSON; using the folder name as dataset name.", description)
    participants: dict[str, dict[str, str]] = {}
    table = root / "participants.tsv"
    if table.is_file():
        for record in read_table(table):
            participants[record.get("participant_id", "")] = record
    else:
        logger.warning("%s has no participants.tsv; ages and sexes are left empty.", root)

    rows, sessions_cache = [], {}
    for path in sorted(root.glob("sub-*/**/anat/*")):
        if any(part in SKIPPED_FOLDERS for part in path.relative_to(root).parts):
            continue
        match = ANAT_FILE.match(path.name)
        if not match:
            continue
        entities = _entities(match["entities"])
        if "ce" in entities:
            continue
        subject = f"sub-{entities['sub']}"
        record = participants.get(subject, {})
        age = _safe(parse_age, record.get("age"), f"{subject} age")
        if age is None and "ses" in entities:
            if subject not in sessions_cache:
                sessions_file = root / subject / f"{subject}_sessions.tsv"
                sessions_cache[subject] = {r.get("session_id", ""): r for r in read_table(sessions_file)} if sessions_file.is_file() else {}
            age = _safe(parse_age, sessions_cache[subject].get(f"ses-{entities['ses']}", {}).get("age"), f"{subject} ses-{entities['ses']} age")
        sex = _safe(parse_sex, record.get("sex", record.get("gender")), f"{subject} sex")
        rows.append(image_row(subject, path, SUFFIX_TO_MODALITY[match["suffix"]], format_age(age), sex or "", dataset,
                              assign_split(subject, test_fraction, seed), Path(manifest_folder)))
    if not rows:
        raise InvalidInputError(f"No anatomical T1w/T2w/FLAIR/PDw NIfTI files were found under {root}/sub-*/[ses-*/]anat/.")
    logger.info("Found %d images of %d subjects in BIDS dataset %s.", len(rows), len({r['subject_id'] for r in rows}), dataset)
    return rows
