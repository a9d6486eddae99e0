"""The latent scale factor: 1 / std (MONAI's tutorial) or 1 / RMS of the strongest channel."""

from __future__ import annotations

import pytest
import torch

from training.trainers.configs import TrainingConfigError, load_config
from training.trainers.latents import scale_factor_from


def _latents() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(6, 3, 4, 4, 4, generator=generator) * torch.tensor([4.0, 0.5, 0.1]).view(1, 3, 1, 1, 1)
    return mu, torch.zeros_like(mu)


def test_std_scaling_gives_unit_overall_std() -> None:
    mu, sigma = _latents()
    assert float((mu * scale_factor_from(mu, sigma)).std()) == pytest.approx(1.0, rel=1e-5)


def test_strongest_channel_scaling_gives_it_unit_rms_and_keeps_the_others_below() -> None:
    mu, sigma = _latents()
    scaled = mu * scale_factor_from(mu, sigma, scaling="strongest_channel")
    rms = scaled.pow(2).mean(dim=(0, 2, 3, 4)).sqrt()
    assert float(rms[0]) == pytest.approx(1.0, rel=1e-5)
    assert float(rms[1]) < 0.2 and float(rms[2]) < 0.05
    # Not the std scaling under another name: that one leaves the strong channel well above 1.
    assert float((mu * scale_factor_from(mu, sigma)).pow(2)[:, 0].mean().sqrt()) > 1.5


def test_unknown_scalings_are_refused() -> None:
    mu, sigma = _latents()
    with pytest.raises(ValueError, match="Unknown latent scaling 'max'"):
        scale_factor_from(mu, sigma, scaling="max")
    with pytest.raises(TrainingConfigError, match="autoencoder.latent_scaling"):
        load_config("tiny", ["autoencoder.latent_scaling=max"])
