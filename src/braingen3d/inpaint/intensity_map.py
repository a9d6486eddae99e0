"""The linear intensity map between a user's volume and the bundle's [0, 1] range."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..intensity import robust_normalise


@dataclass(frozen=True)
class IntensityMap:
    """``normalised = clip((value - low) / (high - low), 0, 1)``, as ``robust_normalise`` does in training.

    Args:
        low: the input intensity mapped to 0.
        high: the input intensity mapped to 1.
        percentiles: the foreground percentiles ``low`` and ``high`` came from.
    """

    low: float
    high: float
    percentiles: tuple[float, float]

    @classmethod
    def fit(cls, array: np.ndarray, foreground: np.ndarray, percentiles: tuple[float, float]) -> "IntensityMap":
        """The map ``robust_normalise(array, percentiles, foreground)`` applies."""
        data = np.asarray(array, dtype=np.float32)
        low, high = np.percentile(data[foreground.astype(bool)], percentiles)
        return cls(float(low), float(high), tuple(float(p) for p in percentiles))

    def normalise(self, array: np.ndarray, foreground: np.ndarray) -> np.ndarray:
        """The model's view of ``array``, computed by the training code's own function."""
        return robust_normalise(array, self.percentiles, mask=foreground)

    def to_model_scale(self, values: np.ndarray) -> np.ndarray:
        """The linear part alone, not clipped (float64): input intensities on the model's scale."""
        return (np.asarray(values, dtype=np.float64) - self.low) / (self.high - self.low)

    def to_input_scale(self, normalised: np.ndarray) -> np.ndarray:
        """Inverse of the linear part: model intensities back on the input's scale (float64)."""
        return self.low + np.asarray(normalised, dtype=np.float64) * (self.high - self.low)

    def to_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "percentiles": list(self.percentiles)}
