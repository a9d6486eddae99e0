"""FRD: the package's own result on the same files, and a blurred copy far above the baseline."""

from __future__ import annotations

import contextlib
import io

import eval_phantoms as phantoms
import numpy as np
import pytest

from braingen3d.evaluation.radiomics_distance import extract_features, frd_v1, radiomics_distances
from braingen3d.evaluation.splits import matched_comparison


def _comparison(transform=None):
    reference = phantoms.samples(phantoms.cohort(12, 1, ("T1",)))
    generated = phantoms.samples(phantoms.cohort(12, 2, ("T1",), prefix="g"), generated=True, transform=transform)
    phantoms.with_masks(reference, generated)
    return matched_comparison(generated, reference, seed=0)


def test_blurred_copies_are_far_above_the_baseline():
    same = radiomics_distances(_comparison(), phantoms.GRID.affine, "original")
    blurred = radiomics_distances(_comparison(phantoms.blur(1.0)), phantoms.GRID.affine, "original")
    assert same["n_generated"] == same["n_reference_a"] == same["n_reference_b"] == 6
    assert same["features_used"] > 50 and not same["volumes_without_features"]
    assert same["frd"] - same["baseline_frd"] < np.log(3)
    assert blurred["squared_distance_ratio"] > 3 and blurred["frd"] > blurred["baseline_frd"] + np.log(3)


def test_same_value_as_the_package_on_the_same_files(tmp_path):
    frd_score = pytest.importorskip("frd_score")
    import nibabel as nib

    reference = phantoms.samples(phantoms.cohort(4, 1, ("T1",)))
    other = phantoms.samples(phantoms.cohort(4, 2, ("T1",), prefix="g"), generated=True)
    phantoms.with_masks(reference, other)
    files: dict[str, list[list[str]]] = {"images": [[], []], "masks": [[], []]}
    for side, group in enumerate((reference, other)):
        for sample in group:
            image, mask = tmp_path / f"{sample.name}.nii.gz", tmp_path / f"{sample.name}_mask.nii.gz"
            nib.save(nib.Nifti1Image(sample.array, phantoms.GRID.affine), str(image))
            nib.save(nib.Nifti1Image(sample.brain.astype(np.uint8), phantoms.GRID.affine), str(mask))
            files["images"][side].append(str(image))
            files["masks"][side].append(str(mask))
    with contextlib.redirect_stdout(io.StringIO()):
        expected = frd_score.compute_frd(files["images"], paths_masks=files["masks"], frd_version="v1",
                                         image_types=["Original"], num_workers=1)
    features = extract_features([*reference, *other], phantoms.GRID.affine, "original")
    ours = frd_v1(np.stack([features[s.name] for s in reference]), np.stack([features[s.name] for s in other]))
    assert ours["frd"] == pytest.approx(float(expected), rel=1e-5)
