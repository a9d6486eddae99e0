"""Where bundles are found: the embedded default and the ``BRAINGEN3D_BUNDLE`` override (no torch import)."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import BundleError
from .config import CONFIG_NAME

DEFAULT_BUNDLE_ENV = "BRAINGEN3D_BUNDLE"


def embedded_bundle_path() -> Path:
    """Where the default bundle ships inside the package."""
    return Path(__file__).resolve().parent.parent / "bundles" / "default"


def default_bundle_path() -> Path:
    """The bundle used when none is given: ``$BRAINGEN3D_BUNDLE`` or the embedded default."""
    env = os.environ.get(DEFAULT_BUNDLE_ENV)
    path = Path(env) if env else embedded_bundle_path()
    if not (path / CONFIG_NAME).is_file():
        raise BundleError(
            f"No default bundle at {path}. Pass --bundle FOLDER, set {DEFAULT_BUNDLE_ENV}, or reinstall braingen3d "
            "from a checkout that includes src/braingen3d/bundles/default."
        )
    return path
