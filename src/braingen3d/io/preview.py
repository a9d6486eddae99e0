"""PNG preview: axial, coronal and sagittal mid-slices side by side, in physical proportions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .atomic import atomic_path


def _to_display(plane: np.ndarray) -> np.ndarray:
    # (first axis, second axis) → rows top = high second axis, columns left = high first axis (radiological).
    return plane[::-1, ::-1].T


def _scale(array: np.ndarray) -> np.ndarray:
    low, high = np.percentile(array, [0.5, 99.5])
    high = high if high > low else low + 1.0
    return (np.clip((array - low) / (high - low), 0, 1) * 255).astype(np.uint8)


def mid_slices(array: np.ndarray, spacing: tuple[float, float, float], pixel_mm: float = 1.0) -> list[Image.Image]:
    """Axial, coronal and sagittal mid-slices of an (i, j, k) RAS array, resampled to ``pixel_mm``."""
    scaled = _scale(array)
    i, j, k = (s // 2 for s in array.shape)
    planes = [(scaled[:, :, k], spacing[0], spacing[1]), (scaled[:, j, :], spacing[0], spacing[2]),
              (scaled[i, :, :], spacing[1], spacing[2])]
    images = []
    for plane, first_mm, second_mm in planes:
        shown = _to_display(plane)
        width = max(1, round(shown.shape[1] * first_mm / pixel_mm))
        height = max(1, round(shown.shape[0] * second_mm / pixel_mm))
        images.append(Image.fromarray(shown).resize((width, height), Image.BILINEAR))
    return images


def write_preview(path: Path, array: np.ndarray, spacing: tuple[float, float, float], overwrite: bool = True) -> Path:
    """Write the three mid-slices side by side, labelled, as a PNG (atomically)."""
    images = mid_slices(array, spacing)
    gap, banner = 8, 18
    width = sum(im.width for im in images) + gap * (len(images) + 1)
    height = max(im.height for im in images) + banner + gap
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    x = gap
    for label, im in zip(("axial (R|L)", "coronal (R|L)", "sagittal (A|P)"), images):
        canvas.paste(im, (x, banner))
        draw.text((x, 3), label, fill=200)
        x += im.width + gap
    draw.text((width - 70, 3), "SYNTHETIC", fill=255)
    with atomic_path(Path(path), overwrite) as tmp:
        canvas.save(tmp, format="PNG")
    return Path(path)
