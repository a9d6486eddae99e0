"""TensorBoard scalars, log lines and preview images (main process only)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)


class Monitor:
    """Writes TensorBoard scalars under ``folder/tensorboard`` and PNGs under ``folder/previews``.

    On other ranks every method does nothing. On resume, events after the resumed step are purged
    so curves do not double back.

    Args:
        folder: the run folder.
        enabled: True on the main process.
        start_step: the step training (re)starts from.
    """

    def __init__(self, folder: Path, enabled: bool, start_step: int = 0) -> None:
        self.folder = Path(folder)
        self.enabled = enabled
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.folder / "tensorboard"), purge_step=start_step or None)

    def scalars(self, step: int, values: dict[str, float], prefix: str = "train") -> None:
        if not self.enabled:
            return
        for key, value in values.items():
            self.writer.add_scalar(f"{prefix}/{key}", value, step)
        text = " ".join(f"{k}={v:.4g}" for k, v in sorted(values.items()))
        logger.info("%s step %d: %s", prefix, step, text)

    def image(self, step: int, name: str, rgb: np.ndarray) -> Path | None:
        """Save an (H, W, 3) uint8 image as ``previews/<name>_step<step>.png`` and ``<name>_latest.png``."""
        if not self.enabled:
            return None
        folder = self.folder / "previews"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}_step{step:07d}.png"
        save_png(rgb, path)
        save_png(rgb, folder / f"{name}_latest.png")
        self.writer.add_image(f"preview/{name}", rgb, step, dataformats="HWC")
        return path

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def save_png(rgb: np.ndarray, path: Path) -> None:
    """Write a PNG atomically."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    Image.fromarray(rgb).save(temporary, format="PNG")
    os.replace(temporary, path)


def mid_slices(volume: np.ndarray, centre: tuple[int, int, int] | None = None) -> list[np.ndarray]:
    """Sagittal, coronal and axial slices through ``centre`` (default: the middle) of an (i, j, k) RAS volume."""
    i, j, k = centre if centre is not None else (s // 2 for s in volume.shape)
    sagittal = np.flipud(volume[i, :, :].T)
    coronal = np.flipud(volume[:, j, :].T)
    axial = np.flipud(volume[:, :, k].T)
    return [sagittal, coronal, axial]


def slice_panel(rows: list[np.ndarray], scale: int = 2, centre: tuple[int, int, int] | None = None) -> np.ndarray:
    """A grey RGB panel: each row shows three slices of one volume through ``centre`` (default: the middle),
    values clipped to [0, 1]."""
    rendered = []
    for volume in rows:
        slices = mid_slices(np.clip(np.asarray(volume, dtype=np.float32), 0.0, 1.0), centre)
        height = max(s.shape[0] for s in slices)
        padded = [np.pad(s, ((0, height - s.shape[0]), (0, 2))) for s in slices]
        rendered.append(np.concatenate(padded, axis=1))
    width = max(r.shape[1] for r in rendered)
    panel = np.concatenate([np.pad(r, ((0, 2), (0, width - r.shape[1]))) for r in rendered], axis=0)
    panel = np.kron(panel, np.ones((scale, scale), dtype=np.float32))
    grey = (panel * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)
