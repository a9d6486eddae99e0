"""Helpers for the trainer tests: tiny synthetic cohorts on a grid, and the DDP worker process."""

from __future__ import annotations

import csv
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from braingen3d.core.geometry import Grid

MANIFEST_COLUMNS = ["subject_id", "image", "modality", "age", "sex", "tissue_map", "lesion_mask", "dataset", "caption",
                    "split", "ventricles_ml"]


def write_sphere_cohort(folder: Path, grid: Grid, subjects: int = 8, held_out: int = 2, seed: int = 0,
                        caption_first: str = "", lesions: bool = False) -> Path:
    """Blurred spheres of random centre and radius as 'brains' (label 2 inside), with a valid manifest.

    With ``lesions``, every odd subject also gets a bright 2x2x2 'lesion' at the sphere's centre and its mask.

    Returns:
        The manifest path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = np.array(grid.shape, dtype=float)
    coords = np.indices(grid.shape).astype(np.float32)
    rows = []
    for n in range(subjects):
        centre = shape / 2 + rng.normal(0.0, 0.05, 3) * shape
        radius = rng.uniform(0.25, 0.38) * shape.min()
        distance = np.sqrt(((coords - centre[:, None, None, None]) ** 2).sum(0))
        image = (np.clip(1.2 - distance / radius, 0.0, 1.0) * (distance < radius)).astype(np.float32)
        lesion_file = ""
        if lesions and n % 2:
            lesion = np.zeros(grid.shape, dtype=np.float32)
            corner = np.round(centre).astype(int) - 1
            lesion[corner[0]:corner[0] + 2, corner[1]:corner[1] + 2, corner[2]:corner[2] + 2] = 1.0
            image = np.maximum(image, lesion)
            lesion_file = f"s{n}_lesion.nii.gz"
            nib.save(nib.Nifti1Image(lesion, grid.affine), folder / lesion_file)
        nib.save(nib.Nifti1Image(image, grid.affine), folder / f"s{n}.nii.gz")
        nib.save(nib.Nifti1Image((distance < radius).astype(np.uint8) * 2, grid.affine), folder / f"s{n}_labels.nii.gz")
        rows.append({
            "subject_id": f"s{n}", "image": f"s{n}.nii.gz", "modality": "T1" if n % 2 else "T2", "age": str(30 + 5 * n),
            "sex": "MF"[n % 2], "tissue_map": f"s{n}_labels.nii.gz", "lesion_mask": lesion_file, "dataset": "spheres",
            "caption": caption_first if n == 0 else "", "split": "test" if n >= subjects - held_out else "train",
            # The sphere's volume stands in for a measured structure volume (structure-regressor tests).
            "ventricles_ml": f"{float((distance < radius).sum()) * float(np.prod(grid.spacing)) / 1000.0:.3f}",
        })
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def ddp_autoencoder_worker(rank: int, world_size: int, init_file: str, manifest: str, out_dir: str, result_dir: str) -> None:
    """One rank of a 2-process gloo job: record initial weights, train one step, record weights."""
    from training.trainers.autoencoder import AutoencoderTrainer
    from training.trainers.configs import load_config
    from training.trainers.distributed import cleanup_distributed, setup_distributed

    torch.set_num_threads(1)
    env = setup_distributed("cpu", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    # Each rank seeds its own initialisation differently: DDP must broadcast rank 0's weights.
    config = load_config("tiny", [f"autoencoder.seed={rank}", "autoencoder.max_steps=2", "autoencoder.adv_start_step=0",
                                  "autoencoder.preview_every=0"])
    trainer = AutoencoderTrainer(config, manifest, out_dir, env)
    initial = {k: v.clone() for k, v in trainer.autoencoder.state_dict().items()}
    trainer.fit(until_step=1)
    result = {
        "initial": initial,
        "autoencoder": trainer.autoencoder.state_dict(),
        "discriminator": trainer.discriminator.state_dict(),
        "ema": trainer.emas["autoencoder"].shadow.state_dict(),
        "sampler": trainer.sampler.state_dict(),
    }
    torch.save(result, Path(result_dir) / f"rank{rank}.pt")
    trainer.close()
    cleanup_distributed()
