"""Lesion-inpainting timings on this machine (not part of the test suite).

Builds random-weight bundles of the ``small`` preset (the default bundle's architecture; they do
not make brains, so only the timings mean anything), an oblique 1 mm int16 phantom head and a
15 mm spherical lesion mask, then times each method end to end. Prints one Markdown table.

    python benchmarks/bench_inpaint.py [--steps 25] [--rounds 2] [--jump 1] [--preset small]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger("bench_inpaint")
PROMPT = "a 15 mm white-matter hyperintensity"


def phantom(shape=(160, 192, 160), spacing=1.0, angle_deg=12.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An ellipsoidal head (int16) on an oblique grid, and a 7.5 mm-radius lesion mask in its white matter."""
    a = np.radians(angle_deg)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation * spacing
    centre = np.array([0.0, -17.0, 17.0])
    affine[:3, 3] = centre - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2)
    ijk = np.stack(np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij"), axis=-1)
    xyz = ijk @ affine[:3, :3].T.astype(np.float32) + affine[:3, 3].astype(np.float32)
    r = np.sqrt((((xyz - centre) / np.array([68.0, 85.0, 62.0], dtype=np.float32)) ** 2).sum(-1))
    volume = np.where(r < 1, 600, 0) + np.where(r < 0.75, 300, 0)
    lesion = np.linalg.norm(xyz - (centre + [25.0, 10.0, 15.0]), axis=-1) <= 7.5
    return volume.astype(np.int16), affine, lesion.astype(np.uint8)


def inpaint_bundle(folder: Path, preset: str) -> Path:
    """Random weights for ``preset`` with both methods (the inpainting U-Net takes 2 * latent + 1 channels)."""
    from braingen3d.bundle import preset_config, save_bundle
    from braingen3d.models.builders import build_autoencoder, build_unet

    config = preset_config(preset, bundle_id=f"random-{preset}-inpaint",
                           capabilities={"text": True, "inpaint": ["repaint", "inpaint_unet"], "controlnet": False})
    config.inpaint_unet = dict(config.unet, in_channels=2 * int(config.autoencoder["latent_channels"]) + 1)
    torch.manual_seed(0)
    return save_bundle(folder / preset, config, build_autoencoder(config.autoencoder_kwargs), build_unet(config.unet),
                       "# random weights, for timing only\n", inpaint_unet=build_unet(config.inpaint_unet))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=2, help="RePaint resample rounds")
    parser.add_argument("--jump", type=int, default=1, help="RePaint jump length")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    torch.set_num_threads(os.cpu_count() or 1)

    from braingen3d.pipelines.inpaint import LesionInpainter, Resampling, max_change_outside

    volume, affine, mask = phantom()
    resampling = Resampling(rounds=args.rounds, jump_length=args.jump)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        bundle = inpaint_bundle(Path(folder), args.preset)
        start = time.perf_counter()
        inpainter = LesionInpainter.from_bundle(bundle, device="cpu")
        load = time.perf_counter() - start
        inpainter(volume, affine, mask, "warm-up", num_inference_steps=1, seed=0, method="repaint",
                  resampling=Resampling(rounds=0))  # first-call allocations are not inpainting cost
        cases = [("repaint", resampling), ("repaint", Resampling(rounds=0)), ("inpaint_unet", resampling)]
        for method, schedule in cases:
            evaluations = Resampling.model_evaluations(schedule.path(args.steps)) if method == "repaint" else args.steps
            start, cpu_start = time.perf_counter(), time.process_time()
            # One sample: random weights miss the prompted contrast, and each retry costs one more sample.
            result = inpainter(volume, affine, mask, PROMPT, num_inference_steps=args.steps, seed=1, method=method,
                               resampling=schedule, attempts=1)
            total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            region = np.zeros(mask.shape, bool)
            region[result.region.indices] = True
            name = method if method == "inpaint_unet" else f"repaint r={schedule.rounds} j={schedule.jump_length}"
            rows.append((name, evaluations, total, cpu, result.timings, max_change_outside(volume, result.array, region)))
    config = inpainter.config
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}; bundle preset '{args.preset}' "
          f"({'x'.join(map(str, config.grid.shape))} @ {config.grid.spacing[0]:g} mm, latent "
          f"{'x'.join(map(str, config.latent_shape))}), load {load:.1f} s; input {'x'.join(map(str, volume.shape))} "
          f"@ 1 mm oblique int16, lesion {int(mask.sum())} voxels, dpm++ {args.steps} steps, guidance 3")
    print("| method | U-Net evaluations | total (s) | CPU time (s) | prepare (s) | encode (s) | denoise (s) | per evaluation (s) | "
          "decode (s) | composite (s) | max change outside mask+margin |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, evaluations, total, cpu, t, outside in rows:
        print(f"| {name} | {evaluations} | {total:.1f} | {cpu:.1f} | {t['prepare_seconds']:.2f} | {t['encode_seconds']:.2f} | "
              f"{t['denoise_seconds']:.1f} | {t['denoise_seconds'] / evaluations:.3f} | {t['decode_seconds']:.2f} | "
              f"{t['composite_seconds']:.3f} | {outside:g} |")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
