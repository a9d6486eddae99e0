"""Image-quality metrics for synthetic volumes (MONAI's SSIM/MS-SSIM, PSNR and histogram distance in a mask)."""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import MultiScaleSSIMMetric
from monai.metrics.regression import compute_ssim_and_cs
from scipy.stats import wasserstein_distance

from .core.errors import InvalidInputError


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float32))[None, None]


def _check_pair(reference: np.ndarray, test: np.ndarray, mask: np.ndarray | None) -> None:
    if reference.shape != test.shape or (mask is not None and mask.shape != reference.shape):
        raise InvalidInputError(f"Shapes differ: {reference.shape}, {test.shape}, mask {None if mask is None else mask.shape}.")
    if mask is not None and not mask.any():
        raise InvalidInputError("The mask is empty.")


def psnr(reference: np.ndarray, test: np.ndarray, mask: np.ndarray | None = None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over ``mask`` (all voxels if None)."""
    _check_pair(reference, test, mask)
    diff = (np.asarray(reference, np.float64) - np.asarray(test, np.float64))
    mse = float(np.mean(diff[mask.astype(bool)] ** 2 if mask is not None else diff**2))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def ssim(reference: np.ndarray, test: np.ndarray, mask: np.ndarray | None = None, data_range: float = 1.0,
         kernel_size: int = 7, kernel_sigma: float = 1.5) -> float:
    """3D SSIM (Gaussian window), averaged over the window centres that fall inside ``mask``."""
    _check_pair(reference, test, mask)
    ssim_map, _ = compute_ssim_and_cs(
        _as_tensor(test), _as_tensor(reference), spatial_dims=3, kernel_size=[kernel_size] * 3,
        kernel_sigma=[kernel_sigma] * 3, data_range=data_range, kernel_type="gaussian", k1=0.01, k2=0.03,
    )
    ssim_map = ssim_map[0, 0].numpy()
    if mask is None:
        return float(ssim_map.mean())
    half = kernel_size // 2
    centres = mask[half: half + ssim_map.shape[0], half: half + ssim_map.shape[1], half: half + ssim_map.shape[2]]
    return float(ssim_map[centres.astype(bool)].mean())


def ms_ssim(first: np.ndarray, second: np.ndarray, data_range: float = 1.0, kernel_size: int = 5) -> float:
    """Multi-scale SSIM over three scales (volumes of 80-100 voxels are too small for the usual five)."""
    _check_pair(first, second, None)
    metric = MultiScaleSSIMMetric(spatial_dims=3, data_range=data_range, kernel_size=kernel_size,
                                  weights=(0.2096, 0.4659, 0.3245))
    return float(metric(_as_tensor(first), _as_tensor(second)).mean())


def histogram_distance(first: np.ndarray, first_mask: np.ndarray, second: np.ndarray, second_mask: np.ndarray) -> float:
    """Wasserstein-1 distance between the intensity distributions inside two masks (same units as the images)."""
    if not first_mask.any() or not second_mask.any():
        raise InvalidInputError("A mask is empty.")
    return float(wasserstein_distance(first[first_mask.astype(bool)], second[second_mask.astype(bool)]))
