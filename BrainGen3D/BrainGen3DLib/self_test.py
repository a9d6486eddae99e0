"""Helpers for the module's self-test (``BrainGen3DTest``), which runs inside Slicer."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .bundle_card import BundleCard, default_bundle_folder, read_bundle_card
from .logic import worker_environment, worker_python

MAKE_TINY_BUNDLE = ("import sys; from braingen3d.bundle import make_random_bundle; "
                    "make_random_bundle(sys.argv[1], preset='tiny')")


def testing_bundle(folder: Path) -> tuple[Path | None, BundleCard]:
    """The bundle the self-test generates with.

    Returns ``(None, card)`` when the engine's default bundle is installed (the worker then uses
    it), else makes a random-weight ``tiny`` bundle in ``folder`` — in a separate process, so torch
    is never imported into Slicer's GUI process — and returns ``(path, card)``.
    """
    default = default_bundle_folder()
    if default is not None:
        return None, read_bundle_card(default)
    path = folder / "tiny-bundle"
    subprocess.run([worker_python(), "-c", MAKE_TINY_BUNDLE, str(path)], check=True, env=worker_environment(),
                   capture_output=True, timeout=300)
    return path, read_bundle_card(path)
