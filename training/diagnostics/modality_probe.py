"""How far does the prompt's modality word move a bundle's clean-latent prediction, at which noise level?

Training subjects' latents of modality A (from an autoencoder run's latent cache) are noised to timestep
t, and the clean latent is predicted once with an A and once with a B prompt (``--pair A B``, T1 and T2
by default). It prints the change between the two predictions as a fraction of the real A-B latent
difference of the same subjects: where the fraction is near 0, the modality is already fixed in ``x_t``
and the prompt no longer chooses it.

    python -m training.diagnostics.modality_probe --bundle DIR --latents RUN/autoencoder/latents [--pair T1 PD] [--subjects 6]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from braingen3d.bundle import load_bundle
from braingen3d.prompts.text_encoder import TextEncoder
from braingen3d.sampling.schedulers import make_training_scheduler
from training.evaluation.adherence import MODALITY_WORDS
from training.trainers.latents import LatentCache

logger = logging.getLogger("modality_probe")
TIMESTEPS = (900, 600, 300)


def paired_latents(latent_dir: Path, count: int, pair: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled posterior means of the two modalities of the first ``count`` subjects that have both."""
    cache = LatentCache(latent_dir)
    rows: dict[str, dict[str, int]] = {}
    for i, row in enumerate(cache.rows):
        rows.setdefault(row["subject_id"], {})[row["modality"]] = i
    subjects = [s for s, found in rows.items() if set(pair) <= set(found)][:count]
    if not subjects:
        raise SystemExit(f"{latent_dir} holds no subject with both a {pair[0]} and a {pair[1]} latent.")
    first, second = (torch.stack([cache.mu[rows[s][m]] for s in subjects]).float() * cache.scale_factor for m in pair)
    return first, second


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--latents", required=True, help="an autoencoder run's latents/ folder (same autoencoder)")
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--pair", nargs=2, default=("T1", "T2"), choices=sorted(MODALITY_WORDS), metavar="MODALITY",
                        help="the noised latents' modality and the other prompt's (default: T1 T2)")
    args = parser.parse_args()
    pair = tuple(args.pair)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    bundle = load_bundle(args.bundle)
    first, second = paired_latents(Path(args.latents), args.subjects, pair)
    encoder = TextEncoder.from_config(bundle.config.text_encoder)
    conditionings = [encoder.conditioning([f"{MODALITY_WORDS[m]} MRI of a 65-year-old man"] * len(first)) for m in pair]
    alphas_cumprod = make_training_scheduler(bundle.config.noise_scheduler).alphas_cumprod.float()
    prediction_type = bundle.config.noise_scheduler.get("prediction_type", "epsilon")
    gap = float((first - second).norm())
    torch.manual_seed(0)
    for t in TIMESTEPS:
        a, s = alphas_cumprod[t].sqrt(), (1 - alphas_cumprod[t]).sqrt()
        noisy = a * first + s * torch.randn_like(first)
        timesteps = torch.full((len(first),), t)
        clean = []
        for conditioning in conditionings:
            output = bundle.unet(noisy, timesteps=timesteps, **conditioning.unet_kwargs()).float()
            clean.append(a * noisy - s * output if prediction_type == "v_prediction" else (noisy - s * output) / a)
        logger.info("t=%d: prediction change %s -> %s prompt = %.3f of the real %s-%s difference", t, *pair,
                    float((clean[0] - clean[1]).norm()) / gap, *pair)


if __name__ == "__main__":
    main()
