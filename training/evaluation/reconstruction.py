"""Autoencoder reconstruction quality inside the brain."""

from __future__ import annotations

import numpy as np
import torch

from braingen3d import metrics
from braingen3d.bundle import Bundle

from .cohort_data import CohortImage


@torch.inference_mode()
def reconstruct(bundle: Bundle, image: np.ndarray) -> np.ndarray:
    """Encode to the posterior mean and decode (what the diffusion model's latents can express)."""
    x = torch.as_tensor(image)[None, None]
    z_mu, _ = bundle.autoencoder.encode(x)
    return bundle.autoencoder.decode(z_mu).clamp(0, 1)[0, 0].numpy()


def reconstruction_scores(bundle: Bundle, images: list[CohortImage]) -> list[dict]:
    rows = []
    for item in images:
        recon = reconstruct(bundle, item.image)
        rows.append({"subject": item.subject_id, "modality": item.modality,
                     "ssim": metrics.ssim(item.image, recon, item.brain),
                     "psnr": metrics.psnr(item.image, recon, item.brain)})
    return rows
