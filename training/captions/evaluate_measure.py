"""Check the label-free ventricle measurement against label-derived volumes on a manifest.

Example::

    python -m training.captions.evaluate_measure cache/cohort/manifest.csv --split test

prints, per modality, the Spearman rank correlation between ``ventricle_volume_ml`` measured
on the image and the ventricle volume of its tissue map, and the median ratio of the two.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import defaultdict

import nibabel as nib
import numpy as np
from scipy.stats import spearmanr

from braingen3d.core.errors import BrainGenError
from braingen3d.core.geometry import Grid

from ..data.manifest import read_manifest
from .measure import structure_volumes, ventricle_volume_ml

logger = logging.getLogger(__name__)


def evaluate(rows: list[dict], split: str | None = None) -> dict[str, dict[str, float]]:
    """Spearman r and median estimate/truth ratio of the image-based ventricle volume per modality.

    Args:
        rows: manifest rows (absolute paths) with tissue maps; images must be on an MNI grid.
        split: only rows of this split (all when None).

    Returns:
        modality -> ``{"n", "spearman_r", "median_ratio"}``.
    """
    pairs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        if split and row["split"] != split:
            continue
        if row.get("ventricles_ml"):
            truth = float(row["ventricles_ml"])
        elif row.get("tissue_map"):
            labels = nib.load(row["tissue_map"])
            truth = structure_volumes(np.asarray(labels.dataobj), labels.affine)["ventricles_ml"]
        else:
            continue
        image = nib.load(row["image"])
        grid = Grid(tuple(int(s) for s in image.shape[:3]), np.asarray(image.affine))
        pairs[row["modality"]].append((truth, ventricle_volume_ml(image.get_fdata(dtype=np.float32), row["modality"], grid)))
    results = {}
    for modality, values in sorted(pairs.items()):
        truth, estimate = np.asarray(values).T
        r = float(spearmanr(truth, estimate).correlation) if len(values) > 2 else float("nan")
        results[modality] = {"n": len(values), "spearman_r": r, "median_ratio": float(np.median(estimate / np.maximum(truth, 1e-6)))}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.captions.evaluate_measure", description=__doc__.split("\n")[0])
    parser.add_argument("manifest", help="manifest with tissue maps (e.g. the cohort's manifest.csv)")
    parser.add_argument("--split", default=None, help="only this split (train/val/test)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        results = evaluate(read_manifest(args.manifest), args.split)
    except BrainGenError as error:
        logger.error("%s", error)
        return 2
    for modality, result in results.items():
        print(f"{modality}: n={result['n']} spearman_r={result['spearman_r']:.3f} median_ratio={result['median_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
