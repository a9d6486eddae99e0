"""The engine's output type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SyntheticVolume:
    """A generated volume: float32 ``array`` in (i, j, k) order, its RAS ``affine`` and ``provenance``."""

    array: np.ndarray
    affine: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))


@dataclass
class GenerationOutput:
    """What a pipeline call returns: one ``SyntheticVolume`` per requested volume, and timings."""

    volumes: list[SyntheticVolume]
    timings: dict[str, float] = field(default_factory=dict)
