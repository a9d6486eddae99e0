"""Fit cohort norms from a manifest's training split.

Example::

    python -m training.captions.fit_norms cache/cohort/manifest.csv --out cache/cohort/norms.json

Volumes come from the manifest's measurement columns (``gm_ml``, ``ventricles_ml``, ...) or, when
they are absent, are measured from each subject's tissue map. One record per subject is used.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from braingen3d.core.errors import BrainGenError

from ..data.manifest import read_manifest
from .builder import CaptionBuilder
from .norms import CohortNorms

logger = logging.getLogger(__name__)


def subject_records(rows: list[dict], split: str | None = "train") -> list[dict]:
    """One record per subject (age, sex and volumes) from manifest rows with absolute paths."""
    measurer = CaptionBuilder(None)
    records: dict[str, dict] = {}
    for row in rows:
        if (split and row["split"] != split) or row["subject_id"] in records:
            continue
        volumes = measurer.measurements(row)
        if volumes is None:
            continue
        records[row["subject_id"]] = {"age": row["age"], "sex": row["sex"], **volumes}
    return list(records.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.captions.fit_norms", description=__doc__.split("\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="norms JSON to write")
    parser.add_argument("--split", default="train", help="split to fit on (default train; 'all' for every row)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        records = subject_records(read_manifest(args.manifest), None if args.split == "all" else args.split)
        norms = CohortNorms.fit(records, source=f"{args.manifest} ({args.split} split, {len(records)} subjects)")
        norms.save(args.out)
    except BrainGenError as error:
        logger.error("%s", error)
        return 2
    print(f"Wrote norms of {len(records)} subjects to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
