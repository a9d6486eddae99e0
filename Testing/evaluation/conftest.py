"""Fixtures of the evaluation tests: phantom cohorts on disk and a tiny random bundle on their grid."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import eval_phantoms as phantoms  # noqa: E402


@pytest.fixture(scope="session")
def phantom_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random bundle whose grid is the phantoms' grid (32x40x32 at 2 mm)."""
    from braingen3d.bundle import make_random_bundle, preset_config

    config = preset_config("tiny", bundle_id="random-phantom", version="0.0.0", grid=phantoms.GRID)
    return make_random_bundle(tmp_path_factory.mktemp("bundles") / "phantom", config=config)


@pytest.fixture(scope="session")
def phantom_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Reference (8 subjects), other subjects of the same population (8) and training (12), T1 and T2."""
    root = tmp_path_factory.mktemp("phantom_cohorts")
    modalities = ("T1", "T2")
    return {
        "reference": phantoms.write_volumes(root / "reference", phantoms.cohort(8, 1, modalities)),
        "same_population": phantoms.write_volumes(root / "same_population", phantoms.cohort(8, 2, modalities, prefix="g")),
        "training": phantoms.write_volumes(root / "training", phantoms.cohort(12, 3, modalities, prefix="t")),
    }
