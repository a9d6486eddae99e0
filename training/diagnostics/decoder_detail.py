"""How much detail block-PCA decoders draw, and how they take latent errors: finished autoencoder runs compared
on held-out cohort volumes.

For each run and each held-out volume it reports, inside the brain:
  * SSIM and PSNR of the reconstruction (clean latent) and of the reconstruction from a latent with
    Gaussian noise of ``--noise`` times each channel's RMS (a sampler's errors);
  * the high-frequency energy (the evaluation's mean squared Laplacian in the eroded brain) of both,
    relative to the input's (1 = as detailed as the cohort; the realism target is 0.7-1.4);
and writes a PNG per run: input, linear decode, decode, decode of the noisy latent, in three planes,
one row per held-out volume shown.

Runs that share an encoder see the same latents and noise, so they can be compared directly. A run that
has not finished is read from its last checkpoint.

    python -m training.diagnostics.decoder_detail runs/k8/autoencoder runs/k8/decoder \\
        --cohort cache/cohort --held-out 8 -o runs/k8/decoder_detail
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from PIL import Image

from braingen3d.bundle.weights import load_into, load_weights
from braingen3d.evaluation.background_detail import high_frequency_energy
from braingen3d.evaluation.masks import brain_mask
from braingen3d.metrics import psnr, ssim
from braingen3d.models.builders import build_autoencoder

logger = logging.getLogger("decoder_detail")


def load_run(run: Path) -> torch.nn.Module:
    """An autoencoder run's EMA weights: the finished run's ``final/``, else its last checkpoint."""
    final = run / "final" / "autoencoder.json"
    if final.is_file():
        record = json.loads(final.read_text(encoding="utf-8"))
        kwargs = {k: v for k, v in record["autoencoder"].items() if k != "scale_factor"}
        weights = load_weights(run / "final" / "autoencoder.safetensors")
    else:
        from training.trainers.checkpoint import load_checkpoint
        from training.trainers.configs import config_from_dict

        state = load_checkpoint(run / "checkpoints" / "checkpoint_last.pt", "autoencoder")
        config = config_from_dict(json.loads(state["meta"])["config"])
        kwargs, weights = dict(config.bundle_config().autoencoder_kwargs), state["emas"]["autoencoder"]["weights"]
        logger.info("%s is not finished; using its checkpoint at step %d.", run, state["step"])
    model = build_autoencoder(kwargs)
    load_into(model, weights, "autoencoder", "autoencoder weights")
    return model.eval()


def held_out(cohort: Path, count: int) -> list[tuple[str, np.ndarray]]:
    with open(cohort / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] in ("val", "test")]
    picked = rows[:: max(1, len(rows) // count)][:count]
    return [(f"{r['subject_id']}_{r['modality']}",
             np.asarray(nib.load(cohort / r["image"]).get_fdata(), dtype=np.float32)) for r in picked]


def planes(volume: np.ndarray) -> np.ndarray:
    i, j, k = (s // 2 for s in volume.shape)
    shown = [np.clip(p[::-1, ::-1].T, 0, 1) for p in (volume[:, :, k], volume[:, j, :], volume[i, :, :])]
    height = max(p.shape[0] for p in shown)
    return np.concatenate([np.pad(p, ((0, height - p.shape[0]), (0, 2))) for p in shown], axis=1)


@torch.no_grad()
def measure(model: torch.nn.Module, volume: np.ndarray, noise: float, seed: int) -> dict[str, np.ndarray]:
    x = torch.from_numpy(volume)[None, None]
    mu, _ = model.encode(x)
    rms = mu.transpose(0, 1).flatten(1).pow(2).mean(1).sqrt().view(1, -1, 1, 1, 1)
    generator = torch.Generator().manual_seed(seed)
    noisy = mu + noise * rms * torch.randn(mu.shape, generator=generator)
    linear = torch.nn.functional.conv_transpose3d(mu * model._channel_scale(), model.block_basis, stride=model.block)
    return {"linear": linear[0, 0].numpy(), "clean": model.decode(mu)[0, 0].float().numpy(),
            "noisy": model.decode(noisy)[0, 0].float().numpy()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished autoencoder run folders")
    parser.add_argument("--cohort", type=Path, default=Path("cache/cohort"))
    parser.add_argument("--held-out", type=int, default=8)
    parser.add_argument("--noise", type=float, default=0.2, help="latent noise, times each channel's RMS")
    parser.add_argument("--shown", type=int, default=4, help="held-out volumes in each PNG")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_grad_enabled(False)
    args.out.mkdir(parents=True, exist_ok=True)
    volumes = held_out(args.cohort, args.held_out)
    summary = {}
    for run in args.runs:
        model = load_run(run)
        rows, shown = [], []
        for index, (name, volume) in enumerate(volumes):
            brain = brain_mask(volume)
            out = measure(model, volume, args.noise, seed=index)
            reference_hf = high_frequency_energy(volume, brain)
            rows.append({"volume": name,
                         **{f"{kind}_psnr": psnr(volume, np.clip(out[kind], 0, 1), brain) for kind in ("linear", "clean", "noisy")},
                         **{f"{kind}_ssim": ssim(volume, np.clip(out[kind], 0, 1), brain) for kind in ("clean", "noisy")},
                         **{f"{kind}_hf_ratio": high_frequency_energy(out[kind], brain) / reference_hf
                            for kind in ("linear", "clean", "noisy")}})
            if index < args.shown:
                shown.append(np.concatenate([planes(volume), planes(out["linear"]), planes(out["clean"]),
                                             planes(out["noisy"])], axis=1))
        means = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key != "volume"}
        summary[str(run)] = {"mean": means, "volumes": rows}
        image = (np.concatenate(shown, axis=0) * 255).astype(np.uint8)
        name = str(run).strip("/").replace("/", "_")
        Image.fromarray(image).save(args.out / f"{name}.png")
        logger.info("%s: %s", run, ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    (args.out / "decoder_detail.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
