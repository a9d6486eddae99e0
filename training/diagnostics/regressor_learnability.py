"""How readily does the structure regressor learn a structure volume from an autoencoder's latents?

A fresh ``NoisyLatentVolumeRegressor`` is trained for a few hundred steps, at a constant learning rate,
on an autoencoder run's cached latents noised to timesteps ``0..--max-timestep``. The same subjects
as the structure-regressor trainer are held out, and it prints the training loss every 100 steps and
the held-out R² at several timesteps. It compares latents (KL against block PCA) and input variants
without a full regressor run:

* ``latent``: the scaled latent, as the trainer feeds it;
* ``standardised``: each channel minus its noised mean, divided by its noised standard deviation;
* ``image``: a block-PCA latent projected back to image space by its fixed basis (a strided first layer).

``--head flatten`` replaces the regressor's global mean pooling by a linear layer over the whole last
feature map, so that the head knows where in the brain a feature fires.

    python -m training.diagnostics.regressor_learnability --latents runs/default/autoencoder/latents [--input latent]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch.nn import functional as F

from braingen3d.models.structure_regressor import NoisyLatentVolumeRegressor
from braingen3d.sampling.schedulers import make_training_scheduler
from training.trainers.configs import load_config
from training.trainers.latents import LatentCache
from training.trainers.structure_regressor import held_out_split, structure_values

logger = logging.getLogger("regressor_learnability")
REPORT_TIMESTEPS = (0, 100, 300, 600)
INPUTS = ("latent", "standardised", "image")
HEADS = ("mean", "flatten")


class FlattenHeadRegressor(NoisyLatentVolumeRegressor):
    """``NoisyLatentVolumeRegressor`` whose head reads the flattened last feature map instead of its mean."""

    def __init__(self, in_channels: int, channels: list[int], num_outputs: int, input_shape: tuple[int, ...],
                 first_stride: int) -> None:
        super().__init__(in_channels, channels, num_outputs)
        self.blocks[0].conv1.stride = (first_stride,) * 3
        with torch.no_grad():
            features = self.features(torch.zeros(1, in_channels, *input_shape), torch.zeros(1))
        self.head = torch.nn.Linear(features[0].numel(), num_outputs)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x, timesteps).flatten(1))


class NoisedInputs:
    """Noises clean scaled latents to timestep ``t`` and applies the chosen input variant."""

    def __init__(self, latents: torch.Tensor, train_rows: np.ndarray, noise_scheduler: Any, kind: str,
                 latent_dir: Path, scale_factor: float) -> None:
        self.noise_scheduler = noise_scheduler
        self.alphas_cumprod = noise_scheduler.alphas_cumprod.float()
        self.kind = kind
        reduce = (0, 2, 3, 4)
        self.mean = latents[train_rows].mean(reduce, keepdim=True)[:1]
        self.variance = latents[train_rows].var(reduce, keepdim=True)[:1]
        if kind == "image":
            weights = load_file(str(latent_dir.parent / "final" / "autoencoder.safetensors"))
            if "block_basis" not in weights:
                raise SystemExit(f"--input image needs a block-PCA autoencoder; {latent_dir.parent} is not one.")
            self.basis = weights["block_basis"].float()
            self.unscale = weights["channel_scale"].float().view(1, -1, 1, 1, 1) / scale_factor

    def __call__(self, clean: torch.Tensor, timesteps: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noisy = self.noise_scheduler.add_noise(clean, torch.randn(clean.shape, generator=generator), timesteps)
        if self.kind == "standardised":
            alpha_bar = self.alphas_cumprod[timesteps].view(-1, 1, 1, 1, 1)
            return (noisy - alpha_bar.sqrt() * self.mean) / (alpha_bar * self.variance + 1 - alpha_bar).sqrt()
        if self.kind == "image":
            return F.conv_transpose3d(noisy * self.unscale, self.basis, stride=self.basis.shape[-1])
        return noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latents", required=True, help="an autoencoder run's latents/ folder")
    parser.add_argument("--input", choices=INPUTS, default="latent")
    parser.add_argument("--head", choices=HEADS, default="mean")
    parser.add_argument("--config", default="small", help="training config whose noise schedule and regressor to use")
    parser.add_argument("--structure", default="ventricles_ml")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--max-timestep", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    latent_dir = Path(args.latents)
    cache = LatentCache(latent_dir)
    latents = cache.mu.float() * cache.scale_factor
    config = load_config(args.config)
    train_rows, test_rows = held_out_split(cache, config.structure_regressor.validation_fraction,
                                           config.structure_regressor.seed)
    held_out_subjects = {cache.rows[int(i)].get("subject_id") for i in test_rows}
    values = structure_values(cache.rows, [args.structure])[:, 0]
    targets = torch.from_numpy((values - values[train_rows].mean()) / values[train_rows].std())

    noise_scheduler = make_training_scheduler(config.bundle_config().noise_scheduler)
    inputs = NoisedInputs(latents, train_rows, noise_scheduler, args.input, latent_dir, cache.scale_factor)
    # Image input: a first stride of the block size brings it back to the latent grid at once.
    first_stride = inputs.basis.shape[-1] if args.input == "image" else 1
    in_channels = 1 if args.input == "image" else latents.shape[1]
    channels = list(config.structure_regressor.channels)
    if args.head == "flatten":
        input_shape = tuple(inputs(latents[:1], torch.zeros(1, dtype=torch.long), torch.Generator()).shape[2:])
        regressor = FlattenHeadRegressor(in_channels, channels, 1, input_shape, first_stride)
    else:
        regressor = NoisyLatentVolumeRegressor(in_channels, channels, 1)
        regressor.blocks[0].conv1.stride = (first_stride,) * 3
    optimizer = torch.optim.AdamW(regressor.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = train_rows[torch.randint(len(train_rows), (args.batch_size,), generator=generator).numpy()]
        timesteps = torch.randint(0, args.max_timestep + 1, (args.batch_size,), generator=generator)
        prediction = regressor(inputs(latents[batch], timesteps, generator), timesteps)[:, 0]
        loss = F.mse_loss(prediction, targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if step % 100 == 0:
            logger.info("step %d: mean training loss %.3f (%.0f s)", step, np.mean(losses[-100:]),
                        time.perf_counter() - started)

    regressor.eval()
    generator = torch.Generator().manual_seed(1)
    truth = targets[test_rows]
    with torch.no_grad():
        for t in REPORT_TIMESTEPS:
            timesteps = torch.full((len(test_rows),), t)
            prediction = regressor(inputs(latents[test_rows], timesteps, generator), timesteps)[:, 0]
            r2 = 1 - float((prediction - truth).pow(2).mean() / truth.var(unbiased=False))
            logger.info("t=%d: held-out R² %.3f (%d latents of %d subjects)", t, r2, len(test_rows), len(held_out_subjects))


if __name__ == "__main__":
    main()
