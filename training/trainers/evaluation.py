"""Held-out autoencoder quality: SSIM and PSNR inside the brain mask on whole volumes.

The measures are the engine's (``braingen3d.metrics``), the same ones the quality report uses.
"""

from __future__ import annotations

import numpy as np
import torch

from braingen3d import metrics


@torch.no_grad()
def reconstruct(autoencoder: torch.nn.Module, volume: np.ndarray, device: torch.device) -> np.ndarray:
    """Encode to the posterior mean and decode (no sampling): the deterministic reconstruction."""
    x = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None].to(device)
    z_mu, _ = autoencoder.encode(x)
    return autoencoder.decode(z_mu).float().clamp(0.0, 1.0)[0, 0].cpu().numpy()


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
        reconstruction = reconstruct(autoencoder, volume, device)
        ssims.append(metrics.ssim(volume, reconstruction, mask))
        psnrs.append(metrics.psnr(volume, reconstruction, mask))
    return {"ssim": float(np.mean(ssims)), "ssim_min": float(np.min(ssims)), "psnr": float(np.mean(psnrs)),
            "psnr_min": float(np.min(psnrs)), "subjects": len(volumes)}
