"""Distances between autoencoder latents of generated and reference volumes (MONAI FID and MMD metrics).

Each volume is encoded with the bundle's encoder (the posterior mean, scaled as the diffusion model
sees it) and summarised by the mean of every latent channel over each octant of the latent grid
(8 x channels numbers), so that the covariance of a few dozen volumes is defined. The Fréchet
distance compares means and covariances of those summaries, the MMD (MONAI's unbiased estimate with a
linear kernel) their means; generated vs reference half A against half B vs half A, with matched sizes.
"""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np

from .splits import Comparison
from .volumes import Sample

logger = logging.getLogger(__name__)


def latent_summaries(samples: list[Sample], autoencoder, scale_factor: float) -> dict[str, np.ndarray]:
    """Octant means of each latent channel, per sample name."""
    import torch
    import torch.nn.functional as F

    summaries = {}
    with torch.no_grad():
        for sample in samples:
            tensor = torch.from_numpy(np.ascontiguousarray(sample.array, dtype=np.float32))[None, None]
            z_mu, _ = autoencoder.encode(tensor)
            pooled = F.adaptive_avg_pool3d(z_mu.float() * scale_factor, 2)
            summaries[sample.name] = pooled.flatten().numpy().astype(np.float64)
    return summaries


def _fid(first: np.ndarray, second: np.ndarray) -> float:
    import torch
    from monai.metrics import FIDMetric

    with contextlib.redirect_stdout(io.StringIO()):  # MONAI prints when it regularises a singular product
        value = FIDMetric()(torch.from_numpy(second), torch.from_numpy(first))
    return float(value)


def _mmd(first: np.ndarray, second: np.ndarray, seed: int) -> float:
    import torch
    from monai.metrics import MMDMetric

    size = min(len(first), len(second))  # MONAI's estimate needs equal sizes
    rng = np.random.default_rng(seed)
    a = first[np.sort(rng.permutation(len(first))[:size])]
    b = second[np.sort(rng.permutation(len(second))[:size])]
    return float(MMDMetric()(torch.from_numpy(a), torch.from_numpy(b)))


def latent_distances(comparison: Comparison, autoencoder, scale_factor: float, seed: int = 0) -> dict:
    """Fréchet distance and MMD of latent summaries: generated vs half A, and half B vs half A."""
    everyone = {s.name: s for s in (*comparison.half_a, *comparison.half_b, *comparison.generated)}
    summaries = latent_summaries(list(everyone.values()), autoencoder, scale_factor)

    def stack(group: list[Sample]) -> np.ndarray:
        return np.stack([summaries[s.name] for s in group])

    half_a, half_b, generated = stack(comparison.half_a), stack(comparison.half_b), stack(comparison.generated)
    fid, baseline_fid = _fid(half_a, generated), _fid(half_a, half_b)
    mmd, baseline_mmd = _mmd(half_a, generated, seed), _mmd(half_a, half_b, seed)
    return {
        "frechet_distance": fid, "baseline_frechet_distance": baseline_fid,
        "frechet_ratio": fid / baseline_fid if baseline_fid > 0 else None,
        "mmd": mmd, "baseline_mmd": baseline_mmd,
        "summary_length": int(half_a.shape[1]),
        **{f"n_{key}": value for key, value in comparison.sizes().items()},
    }
