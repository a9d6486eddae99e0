"""A noise-aware regressor of structure volumes from a noisy latent (for classifier guidance).

It reads the diffusion latent ``x_t`` at timestep ``t`` and predicts the standardised volumes of
the structures the bundle lists (e.g. the lateral ventricles) of the clean image that ``x_t`` will
become. Its gradient steers sampling towards a target volume (``braingen3d.sampling.structure_guidance``),
as a classifier steers ADM-style classifier guidance.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

TIME_FEATURES = 64


def timestep_features(timesteps: torch.Tensor, size: int = TIME_FEATURES) -> torch.Tensor:
    """Sinusoidal features of the diffusion timestep, ``(B,) -> (B, size)``."""
    half = size // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, device=timesteps.device) / half)
    angles = timesteps.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class _TimeModulatedBlock(nn.Module):
    """conv (stride) → norm → SiLU, scaled and shifted by the timestep embedding, → conv → norm → SiLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, embedding_size: int, groups: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_channels, out_channels, 3, stride, 1)
        self.norm1 = nn.GroupNorm(groups, out_channels)
        self.modulation = nn.Linear(embedding_size, 2 * out_channels)
        self.conv2 = nn.Conv3d(out_channels, out_channels, 3, 1, 1)
        self.norm2 = nn.GroupNorm(groups, out_channels)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(self.conv1(x)))
        scale, shift = self.modulation(embedding)[:, :, None, None, None].chunk(2, dim=1)
        h = h * (1 + scale) + shift
        return F.silu(self.norm2(self.conv2(h)))


class NoisyLatentVolumeRegressor(nn.Module):
    """Predicts standardised structure volumes from ``(x_t, t)``.

    Args:
        in_channels: latent channels.
        channels: feature channels per level; every level after the first halves the resolution.
        num_outputs: structures predicted.
        norm_num_groups: GroupNorm groups (must divide every entry of ``channels``).
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (16, 32, 64), num_outputs: int = 1,
                 norm_num_groups: int = 8) -> None:
        super().__init__()
        embedding_size = 2 * TIME_FEATURES
        self.time_embedding = nn.Sequential(nn.Linear(TIME_FEATURES, embedding_size), nn.SiLU(),
                                            nn.Linear(embedding_size, embedding_size))
        widths = [in_channels, *channels]
        self.blocks = nn.ModuleList(
            _TimeModulatedBlock(widths[i], widths[i + 1], 1 if i == 0 else 2, embedding_size, norm_num_groups)
            for i in range(len(channels))
        )
        self.head = nn.Linear(channels[-1], num_outputs)

    def features(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """The last block's feature map, ``(B, channels[-1], *reduced spatial)``."""
        embedding = self.time_embedding(timestep_features(timesteps.reshape(-1).expand(x.shape[0])))
        for block in self.blocks:
            x = block(x, embedding)
        return x

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x, timesteps).mean(dim=(2, 3, 4)))
