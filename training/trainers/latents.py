"""Encode the cohort once with the trained autoencoder and cache the posterior (mean and std) on disk.

The cache is ``latents.safetensors`` (tensors ``mu`` and ``sigma``, shape (N, C, *latent)) plus
``index.json`` (one manifest row per latent, the autoencoder's weight digest and ``scale_factor``).
The diffusion trainer samples ``z = mu + sigma * eps`` (or uses ``mu``) and multiplies by ``scale_factor``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .configs import LATENT_SCALINGS
from .data import Record, VolumeStore

logger = logging.getLogger(__name__)

LATENTS_FILE = "latents.safetensors"
INDEX_FILE = "index.json"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: Any) -> None:
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


@torch.no_grad()
def encode_records(autoencoder: torch.nn.Module, store: VolumeStore, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations of every volume in ``store`` (whole volumes, one at a time)."""
    autoencoder.eval()
    mus, sigmas = [], []
    started = time.perf_counter()
    for index in range(len(store)):
        x = torch.from_numpy(store.image(index))[None, None].to(device)
        mu, sigma = autoencoder.encode(x)
        mus.append(mu.float().cpu())
        sigmas.append(sigma.float().cpu())
        if (index + 1) % 50 == 0 or index + 1 == len(store):
            logger.info("Encoded %d/%d volumes (%.1f s).", index + 1, len(store), time.perf_counter() - started)
    return torch.cat(mus), torch.cat(sigmas)


def scale_factor_from(mu: torch.Tensor, sigma: torch.Tensor, seed: int = 0, scaling: str = "std") -> float:
    """The latent ``scale_factor`` from posterior samples ``z = mu + sigma * eps``.

    ``std``: ``1 / std(z)`` (as in the MONAI latent diffusion tutorial). ``strongest_channel``: ``1 / RMS`` of
    the channel with the largest RMS, so every channel has at most unit second moment.
    """
    generator = torch.Generator("cpu").manual_seed(seed)
    z = mu + sigma * torch.randn(mu.shape, generator=generator)
    if scaling == "strongest_channel":
        per_channel = z.double().pow(2).mean(dim=[d for d in range(z.dim()) if d != 1]).sqrt()
        return float(1.0 / per_channel.max())
    if scaling not in LATENT_SCALINGS:
        raise ValueError(f"Unknown latent scaling {scaling!r}; use one of {list(LATENT_SCALINGS)}.")
    return float(1.0 / z.std())


def write_latent_cache(folder: Path, records: list[Record], mu: torch.Tensor, sigma: torch.Tensor,
                       manifest: Path, autoencoder_weights: Path, scale_factor: float) -> None:
    """Write the cache atomically; ``index.json`` is written last and marks the cache complete."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / INDEX_FILE).unlink(missing_ok=True)
    temporary = folder / f".{LATENTS_FILE}.tmp"
    save_file({"mu": mu.contiguous(), "sigma": sigma.contiguous()}, str(temporary))
    os.replace(temporary, folder / LATENTS_FILE)
    index = {
        "manifest": str(Path(manifest).resolve()),
        "autoencoder_sha256": file_digest(autoencoder_weights),
        "scale_factor": scale_factor,
        "latent_shape": list(mu.shape[1:]),
        "rows": [record.fields for record in records],
    }
    write_json_atomic(folder / INDEX_FILE, index)
    logger.info("Cached %d latents %s in %s (scale_factor %.4f).", len(records), list(mu.shape[1:]), folder, scale_factor)


class LatentCache:
    """A loaded latent cache.

    Attributes:
        mu: posterior means (N, C, *latent).
        sigma: posterior standard deviations.
        rows: the manifest fields of each latent.
        manifest: the manifest the latents came from.
        scale_factor: the latent scale factor (``scale_factor_from``: by default ``1 / std`` of the training latents).
        autoencoder_sha256: digest of the autoencoder weights that produced them.
    """

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        index_path = folder / INDEX_FILE
        if not index_path.is_file():
            raise FileNotFoundError(
                f"No complete latent cache in {folder} ({INDEX_FILE} missing). Finish the autoencoder run first: "
                "python -m training.train_autoencoder ... (it encodes the cohort when training ends), or "
                "python -m training.train_autoencoder --encode-only ..."
            )
        index = json.loads(index_path.read_text(encoding="utf-8"))
        tensors = load_file(str(folder / LATENTS_FILE))
        self.mu = tensors["mu"]
        self.sigma = tensors["sigma"]
        self.rows: list[dict[str, str]] = index["rows"]
        self.manifest = Path(index["manifest"])
        self.scale_factor = float(index["scale_factor"])
        self.autoencoder_sha256 = index["autoencoder_sha256"]
        if len(self.rows) != self.mu.shape[0]:
            raise ValueError(f"Latent cache {folder} is inconsistent: {len(self.rows)} rows for {self.mu.shape[0]} latents.")

    def indices(self, split: str) -> np.ndarray:
        return np.array([i for i, row in enumerate(self.rows) if (row.get("split") or "train") == split], dtype=np.int64)
