"""Deterministic, resumable, rank-sharded sampling of dataset indices."""

from __future__ import annotations

import numpy as np


class ShardedSampler:
    """An endless stream of dataset indices, reshuffled every epoch, split across ranks.

    Every rank draws the same permutation (seeded by ``seed`` and the epoch), pads it to a multiple
    of ``world_size`` and takes every ``world_size``-th index starting at its rank, like
    ``torch.utils.data.DistributedSampler``. The state is two integers, saved in checkpoints.

    Args:
        size: number of items.
        seed: shuffling seed, identical on every rank.
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if size < 1:
            raise ValueError("The sampler needs at least one item.")
        self.size = size
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.position = 0
        self._order = self._epoch_order()

    def _epoch_order(self) -> np.ndarray:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        padded = np.resize(order, -(-self.size // self.world_size) * self.world_size)
        return padded[self.rank :: self.world_size]

    def next_indices(self, count: int) -> list[int]:
        """The next ``count`` indices of this rank's stream."""
        indices = []
        while len(indices) < count:
            if self.position >= len(self._order):
                self.epoch += 1
                self.position = 0
                self._order = self._epoch_order()
            indices.append(int(self._order[self.position]))
            self.position += 1
        return indices

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "size": self.size, "world_size": self.world_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state["size"]) != self.size or int(state["world_size"]) != self.world_size:
            raise ValueError(
                f"Sampler state is for {state['size']} items on {state['world_size']} ranks, but this run has "
                f"{self.size} items on {self.world_size} ranks; exact resume needs the same data and process count."
            )
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._order = self._epoch_order()
