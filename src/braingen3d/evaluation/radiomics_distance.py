"""The Fréchet Radiomics Distance (FRD v1 of the ``frd-score`` package) inside each volume's brain mask.

Radiomics features (first order, GLCM, GLRLM, GLSZM, NGTDM; on the original image and, with the
``full`` feature set, on LoG and wavelet filtered images, the package's 3D configuration) are extracted
once per volume. The distance then follows the package's v1 recipe: rows with missing features are
dropped, features are z-scored with the statistics of the first set (reference half A), columns that
become undefined are dropped, and FRD = log(squared Fréchet distance). Because it is a logarithm, two
FRDs are compared by their difference: FRD_gen - FRD_base = log of the ratio of squared distances.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from .optional import require
from .splits import Comparison
from .volumes import Sample

logger = logging.getLogger(__name__)

FEATURE_SETS = {"full": None, "original": ["Original"]}
"""``full``: the package's v1 image types (Original, LoG, Wavelet); ``original``: the unfiltered image only (about 10x faster)."""


def _extractor(feature_set: str):
    frd = require("frd_score.frd")
    require("radiomics")
    frd._ensure_radiomics()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    return frd, frd.get_feature_extractor(frd_version=frd.FRD_VERSION_V1, image_dim=3, image_types=FEATURE_SETS[feature_set])


def _write_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> str:
    import nibabel as nib

    nib.save(nib.Nifti1Image(array, affine), str(path))
    return str(path)


def extract_features(samples: list[Sample], affine: np.ndarray, feature_set: str = "full") -> dict[str, np.ndarray]:
    """Radiomics feature vector of each sample (by name), inside its brain mask."""
    frd, extractor = _extractor(feature_set)
    features: dict[str, np.ndarray] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="braingen3d-frd-") as scratch:
        for index, sample in enumerate(samples):
            image = _write_nifti(Path(scratch) / "image.nii.gz", sample.array.astype(np.float32), affine)
            mask = _write_nifti(Path(scratch) / "mask.nii.gz", sample.brain.astype(np.uint8), affine)
            with contextlib.redirect_stdout(io.StringIO()):
                result = frd.process_image_mask_pair((image, mask), feature_extractor=extractor,
                                                     frd_version=frd.FRD_VERSION_V1)
            features[sample.name] = (np.asarray(result[0], dtype=np.float64) if result is not None
                                     else np.full(1, np.nan))
            if (index + 1) % 10 == 0 or index + 1 == len(samples):
                logger.info("Radiomics features: %d/%d volumes (%.0f s).", index + 1, len(samples), time.perf_counter() - start)
    return features


def frd_v1(first: np.ndarray, second: np.ndarray) -> dict[str, float]:
    """FRD v1 between two (n, features) arrays, ``first`` being the reference; also the squared distance."""
    frd = require("frd_score.frd")
    sets = []
    for block in (first, second):
        block = np.asarray(block, dtype=np.float64)
        sets.append(block[~np.isnan(block).any(axis=1)].astype(np.float32))
    if min(len(s) for s in sets) < 2:
        raise ValueError("FRD needs at least two volumes with features on each side.")
    normalised = [frd.z_score_normalize(s, 0.0, 1.0, replace_nan=False, handle_std_zero=False, base_distribution=sets[0])
                  for s in sets]
    keep = ~np.logical_or.reduce([~np.isfinite(n).all(axis=0) for n in normalised])
    normalised = [n[:, keep] for n in normalised]
    squared = float(frd.calculate_frechet_distance(normalised[0].mean(axis=0), np.cov(normalised[0], rowvar=False),
                                                   normalised[1].mean(axis=0), np.cov(normalised[1], rowvar=False)))
    return {"frd": float(np.log(squared)) if squared > 0 else float("-inf"), "squared_distance": squared,
            "features_used": int(keep.sum()), "n_first": len(sets[0]), "n_second": len(sets[1])}


def radiomics_distances(comparison: Comparison, affine: np.ndarray, feature_set: str = "full") -> dict:
    """FRD of generated vs reference half A, and of half B vs half A, over all modalities together."""
    everyone = {s.name: s for s in (*comparison.half_a, *comparison.half_b, *comparison.generated)}
    features = extract_features(list(everyone.values()), affine, feature_set)
    width = max(len(v) for v in features.values())
    matrix = {name: (v if len(v) == width else np.full(width, np.nan)) for name, v in features.items()}

    def stack(group: list[Sample]) -> np.ndarray:
        return np.stack([matrix[s.name] for s in group])

    generated = frd_v1(stack(comparison.half_a), stack(comparison.generated))
    baseline = frd_v1(stack(comparison.half_a), stack(comparison.half_b))
    return {
        "frd": generated["frd"], "baseline_frd": baseline["frd"],
        "squared_distance": generated["squared_distance"], "baseline_squared_distance": baseline["squared_distance"],
        "squared_distance_ratio": (generated["squared_distance"] / baseline["squared_distance"]
                                   if baseline["squared_distance"] > 0 else None),
        "features_used": generated["features_used"], "feature_set": feature_set,
        **{f"n_{key}": value for key, value in comparison.sizes().items()},
        "volumes_without_features": sorted(name for name, v in features.items() if np.isnan(v).any()),
    }
