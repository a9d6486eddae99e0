"""A small batch dataset made once per session on the tiny random bundle (it does not make brains)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from Testing.batch.batch_helpers import batch_args, run_cli


@pytest.fixture(scope="session")
def batch_dataset(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``Dataset501_SynthTest`` with 4 cases (0-2 lesions each), written by ``braingen3d batch``."""
    root = tmp_path_factory.mktemp("nnUNet_raw")
    code, _, err = run_cli(batch_args(tiny_bundle, root, 4))
    assert code == 0, err
    return root / "Dataset501_SynthTest"


@pytest.fixture
def batch_copy(batch_dataset: Path, tmp_path: Path) -> Path:
    """A private copy of the session dataset (tests that rerun or break it use this)."""
    root = tmp_path / "nnUNet_raw"
    shutil.copytree(batch_dataset.parent, root)
    return root / batch_dataset.name
