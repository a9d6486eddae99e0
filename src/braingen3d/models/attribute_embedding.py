"""The prompt attribute vector as an offset of the U-Net's timestep embedding (MAISI's global-fact embeddings).

MAISI gives its U-Net global facts (body region, voxel spacing) as embeddings added to the timestep
embedding; here the facts are the modality, age, sex, ventricle and lesion wording the prompt names
(``braingen3d.prompts.attributes``). The last layer starts at zero, so a U-Net that gains this input predicts
exactly what it predicted before.
"""

from __future__ import annotations

import torch
from torch import nn


class AttributeEmbedding(nn.Module):
    """``Linear -> SiLU -> Linear`` from the attribute vector to the timestep-embedding width, zero at the start.

    Args:
        features: attribute entries read (the first ``features`` of the vector).
        embed_dim: width of the U-Net's timestep embedding.
    """

    def __init__(self, features: int, embed_dim: int) -> None:
        super().__init__()
        self.features = int(features)
        self.mlp = nn.Sequential(nn.Linear(self.features, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, attributes: torch.Tensor) -> torch.Tensor:
        return self.mlp(attributes)
