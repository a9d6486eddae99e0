"""A montage PNG: per modality, a generated volume beside a reference volume, three mid-slices each.

Every slice is shown with the same window, the fixed [0, 1] intensity range, so brightness and
background can be compared by eye. Slices are resampled to 1 mm pixels and shown radiologically
(the subject's right on the image's left).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .volumes import Sample

PLANES = ("axial", "coronal", "sagittal")
GAP, BANNER, LABEL_WIDTH = 6, 16, 64


def _slices(array: np.ndarray, spacing: tuple[float, float, float]) -> list[Image.Image]:
    shown = (np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    i, j, k = (s // 2 for s in array.shape)
    planes = [(shown[:, :, k], spacing[0], spacing[1]), (shown[:, j, :], spacing[0], spacing[2]),
              (shown[i, :, :], spacing[1], spacing[2])]
    images = []
    for plane, first_mm, second_mm in planes:
        display = plane[::-1, ::-1].T
        size = (max(1, round(display.shape[1] * first_mm)), max(1, round(display.shape[0] * second_mm)))
        images.append(Image.fromarray(display).resize(size, Image.BILINEAR))
    return images


def choose_pairs(generated: list[Sample], reference: list[Sample]) -> list[tuple[str, Sample, Sample]]:
    """Per modality: the first generated volume and the reference volume of the subject it was prompted from
    (or the first reference volume of that modality)."""
    pairs = []
    for modality in sorted({s.modality for s in generated} & {s.modality for s in reference}):
        gen = next(s for s in generated if s.modality == modality)
        same_subject = [s for s in reference if s.modality == modality and s.subject == gen.subject]
        ref = same_subject[0] if same_subject else next(s for s in reference if s.modality == modality)
        pairs.append((modality, gen, ref))
    return pairs


def write_montage(generated: list[Sample], reference: list[Sample], spacing: tuple[float, float, float], path: Path) -> Path:
    """Write the montage PNG to ``path`` (inside a folder that is itself written atomically)."""
    rows = []
    for modality, gen, ref in choose_pairs(generated, reference):
        rows.append((modality, _slices(gen.array, spacing), _slices(ref.array, spacing), gen.name, ref.name))
    if not rows:
        raise ValueError("No modality has both a generated and a reference volume.")
    widths = [im.width for im in rows[0][1]]
    height = max(im.height for im in rows[0][1])
    half = sum(widths) + GAP * (len(widths) - 1)
    width = LABEL_WIDTH + 2 * half + 3 * GAP
    canvas = Image.new("L", (width, BANNER + len(rows) * (height + BANNER + GAP)), 0)
    draw = ImageDraw.Draw(canvas)
    draw.text((LABEL_WIDTH, 2), "generated (SYNTHETIC)", fill=255)
    draw.text((LABEL_WIDTH + half + 2 * GAP, 2), "reference", fill=255)
    y = BANNER
    for modality, gen_images, ref_images, gen_name, ref_name in rows:
        draw.text((4, y + height // 2), modality, fill=255)
        draw.text((LABEL_WIDTH, y), f"{gen_name}  ({', '.join(PLANES)})", fill=180)
        draw.text((LABEL_WIDTH + half + 2 * GAP, y), ref_name, fill=180)
        x = LABEL_WIDTH
        for image in (*gen_images, None, *ref_images):
            if image is None:
                x += GAP
                continue
            canvas.paste(image, (x, y + BANNER))
            x += image.width + GAP
        y += height + BANNER + GAP
    canvas.save(path, format="PNG")
    return path
