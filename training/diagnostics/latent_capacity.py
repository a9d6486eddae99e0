"""How much a 4x-downsampled latent must carry: linear baselines for the autoencoder's PSNR target.

For held-out cohort volumes it prints the in-brain PSNR of
  * average-pooling by 2 or 4 and trilinear upsampling (what a "blurry" autoencoder achieves), and
  * block PCA on non-overlapping 4x4x4 blocks keeping k components (a linear autoencoder with a
    4x-downsampled, k-channel latent; components fitted on training volumes).

A linear 4-channel latent reaches about 22 dB, far from the 30 dB target, 16 channels about 28 dB and
24 about 31 dB. The ``small`` preset's autoencoder is this block PCA with 32 components plus a trained decoder
correction (``braingen3d.models.block_pca_autoencoder``).

    python -m training.diagnostics.latent_capacity --cohort cache/cohort --train 40 --held-out 8
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

logger = logging.getLogger("latent_capacity")


def brain_psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    mask = reference > 0
    return float(10.0 * np.log10(1.0 / np.mean((reference[mask] - estimate[mask]) ** 2)))


def blocks(volume: np.ndarray, size: int) -> np.ndarray:
    x, y, z = (s // size for s in volume.shape)
    cropped = volume[: x * size, : y * size, : z * size]
    return cropped.reshape(x, size, y, size, z, size).transpose(0, 2, 4, 1, 3, 5).reshape(-1, size ** 3)


def unblocks(rows: np.ndarray, shape: tuple[int, int, int], size: int) -> np.ndarray:
    x, y, z = (s // size for s in shape)
    return rows.reshape(x, y, z, size, size, size).transpose(0, 3, 1, 4, 2, 5).reshape(x * size, y * size, z * size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", default="cache/cohort", help="cohort folder with manifest.csv")
    parser.add_argument("--train", type=int, default=40, help="training volumes for the PCA fit")
    parser.add_argument("--held-out", type=int, default=8, help="held-out volumes to score")
    parser.add_argument("--components", type=int, nargs="+", default=[4, 8, 16, 24])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cohort = Path(args.cohort)
    rows = list(csv.DictReader(open(cohort / "manifest.csv", newline="")))
    def load(r):
        return np.asarray(nib.load(str(cohort / r["image"])).dataobj, dtype=np.float32)
    train = [load(r) for r in [r for r in rows if r["split"] == "train"][: args.train]]
    held = [load(r) for r in [r for r in rows if r["split"] != "train"][: args.held_out]]

    table = []
    for factor in (2, 4):
        scores = []
        for volume in held:
            tensor = torch.from_numpy(volume)[None, None]
            blurred = F.interpolate(F.avg_pool3d(tensor, factor), size=volume.shape, mode="trilinear", align_corners=False)
            scores.append(brain_psnr(volume, blurred[0, 0].numpy()))
        table.append((f"average-pool {factor}x + trilinear upsampling", float(np.mean(scores))))

    data = np.concatenate([blocks(v, 4) for v in train])
    data = data[np.abs(data).sum(1) > 0]
    mean = data.mean(0)
    _, _, basis = np.linalg.svd(data - mean, full_matrices=False)
    for k in args.components:
        projection = basis[:k]
        scores = []
        for volume in held:
            rows_k = (blocks(volume, 4) - mean) @ projection.T @ projection + mean
            estimate = np.zeros_like(volume)
            shape = tuple(s // 4 * 4 for s in volume.shape)
            estimate[: shape[0], : shape[1], : shape[2]] = unblocks(rows_k, shape, 4)
            scores.append(brain_psnr(volume, estimate))
        table.append((f"block PCA 4x4x4, {k} components (linear {k}-channel latent)", float(np.mean(scores))))

    logger.info("| reconstruction of %d held-out volumes | in-brain PSNR (dB) |\n| --- | --- |", len(held))
    for name, value in table:
        logger.info("| %s | %.1f |", name, value)


if __name__ == "__main__":
    main()
