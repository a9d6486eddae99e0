"""Held-out autoencoder quality: SSIM and PSNR inside the brain mask on whole volumes."""

from __future__ import annotations

import math

import numpy as np
import torch
from monai.metrics.regression import compute_ssim_and_cs

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


@torch.no_grad()
def reconstruct(autoencoder: torch.nn.Module, volume: np.ndarray, device: torch.device) -> np.ndarray:
    """Encode to the posterior mean and decode (no sampling): the deterministic reconstruction."""
    x = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None].to(device)
    z_mu, _ = autoencoder.encode(x)
    return autoencoder.decode(z_mu).float().clamp(0.0, 1.0)[0, 0].cpu().numpy()


def masked_ssim_psnr(reference: np.ndarray, test: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """SSIM (Gaussian window 11, sigma 1.5, data range 1) averaged over mask voxels, and PSNR (dB) in the mask.

    The SSIM map covers the voxels whose whole window lies inside the volume; the mask is cropped to match.

    Args:
        reference: ground truth in [0, 1].
        test: reconstruction in [0, 1].
        mask: boolean brain mask.
    """
    ref = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32))[None, None]
    out = torch.from_numpy(np.ascontiguousarray(test, dtype=np.float32))[None, None]
    ssim_map, _ = compute_ssim_and_cs(out, ref, spatial_dims=3, kernel_size=[SSIM_WINDOW] * 3,
                                      kernel_sigma=[SSIM_SIGMA] * 3, data_range=1.0)
    half = SSIM_WINDOW // 2
    cropped = mask[half:-half, half:-half, half:-half]
    ssim = float(ssim_map[0, 0].numpy()[cropped].mean())
    mse = float(np.mean((reference[mask] - test[mask]) ** 2))
    psnr = float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)
    return ssim, psnr


def evaluate_autoencoder(autoencoder: torch.nn.Module, volumes: list[np.ndarray], masks: list[np.ndarray],
                         device: torch.device) -> dict[str, float]:
    """Mean and worst held-out SSIM and PSNR inside the brain mask.

    Args:
        autoencoder: the (EMA) autoencoder, in eval mode.
        volumes: held-out images in [0, 1].
        masks: their brain masks.
        device: where to run.
    """
    ssims, psnrs = [], []
    for volume, mask in zip(volumes, masks):
        ssim, psnr = masked_ssim_psnr(volume, reconstruct(autoencoder, volume, device), mask)
        ssims.append(ssim)
        psnrs.append(psnr)
    return {"ssim": float(np.mean(ssims)), "ssim_min": float(np.min(ssims)), "psnr": float(np.mean(psnrs)),
            "psnr_min": float(np.min(psnrs)), "subjects": len(volumes)}
