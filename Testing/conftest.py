"""Shared fixtures: tiny randomly initialised bundles (they never make brains; tests must not rely on that)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random bundle (16^3 volume at 10 mm) written by the engine's own save_bundle."""
    from braingen3d.bundle import make_random_bundle

    return make_random_bundle(tmp_path_factory.mktemp("bundles") / "tiny", preset="tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_bundle: Path):
    from braingen3d.pipelines.generation import BrainGenPipeline

    return BrainGenPipeline.from_bundle(tiny_bundle, device="cpu")
