"""Does the prompt's age move the ventricles of a bundle's clean-latent prediction, at which noise level?

Training latents of one modality (from an autoencoder run's latent cache) are noised to timestep t,
and the clean latent is predicted once with a young and once with an old prompt (same sex and
modality). Both predictions are decoded and their lateral-ventricle volume measured from the image
(``training.captions.measure.ventricle_volume_ml``). It prints the mean old − young difference, and the
Spearman correlation of the young prediction's volume with the subjects' decoded volume (how much of
the ventricle size the prediction keeps from ``x_t``). In the cohort the ventricles grow by about
30 ml from 25 to 85 years; a difference near 0 means the prompt's age does not reach the ventricles.

    python -m training.diagnostics.age_probe --bundle DIR --latents RUN/autoencoder/latents [--modality T2] [--subjects 8]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from braingen3d.pipelines.generation import BrainGenPipeline
from braingen3d.sampling.schedulers import make_training_scheduler
from training.evaluation.adherence import MODALITY_WORDS, prompt, ventricles_ml
from training.trainers.latents import LatentCache

logger = logging.getLogger("age_probe")
TIMESTEPS = (900, 700, 500, 300, 150)
AGES = (25, 85)


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--latents", required=True, help="an autoencoder run's latents/ folder (same autoencoder)")
    parser.add_argument("--modality", default="T1", choices=sorted(MODALITY_WORDS))
    parser.add_argument("--subjects", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pipeline = BrainGenPipeline.from_bundle(args.bundle, "cpu")
    grid, unet = pipeline.config.grid, pipeline.bundle.unet
    cache = LatentCache(Path(args.latents))
    rows = [i for i, row in enumerate(cache.rows) if row["modality"] == args.modality][: args.subjects]
    if not rows:
        raise SystemExit(f"{args.latents} holds no {args.modality} latent.")
    clean = torch.stack([cache.mu[i] for i in rows]).float() * cache.scale_factor
    sexes = [cache.rows[i]["sex"] for i in rows]
    decoded = np.array([ventricles_ml(pipeline.decode(clean[k:k + 1]), args.modality, grid) for k in range(len(rows))])
    conditionings = {age: pipeline.text_encoder.conditioning([prompt(args.modality, age, sex) for sex in sexes])
                     for age in AGES}
    alphas_cumprod = make_training_scheduler(pipeline.config.noise_scheduler).alphas_cumprod.float()
    v_prediction = pipeline.config.prediction_type == "v_prediction"
    logger.info("%s, %d subjects: decoded ventricles %.1f ml on average", args.modality, len(rows), decoded.mean())
    torch.manual_seed(0)
    for t in TIMESTEPS:
        a, s = alphas_cumprod[t].sqrt(), (1 - alphas_cumprod[t]).sqrt()
        noisy = a * clean + s * torch.randn_like(clean)
        timesteps = torch.full((len(rows),), t)
        volumes = {}
        for age, conditioning in conditionings.items():
            output = unet(noisy, timesteps=timesteps, **conditioning.unet_kwargs()).float()
            predicted = a * noisy - s * output if v_prediction else (noisy - s * output) / a
            volumes[age] = np.array([ventricles_ml(pipeline.decode(predicted[k:k + 1]), args.modality, grid)
                                     for k in range(len(rows))])
        change = volumes[AGES[1]] - volumes[AGES[0]]
        logger.info("t=%d: ventricles %d → %d years %+.1f ml (range %+.1f to %+.1f); kept from x_t: Spearman %.2f",
                    t, *AGES, change.mean(), change.min(), change.max(), spearmanr(volumes[AGES[0]], decoded)[0])


if __name__ == "__main__":
    main()
