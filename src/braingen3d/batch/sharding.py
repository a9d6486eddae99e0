"""Which cases this process generates, from the environment torchrun (or a scheduler) sets.

Case ``i`` belongs to rank ``i % world_size``. Every case has exactly one owner, whatever the
world size, so K processes write K disjoint parts of the same plan and together write all of it.
No process group is needed to decide this; ``coordination.py`` uses one only to create the dataset
folder once before the other ranks open it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..core.errors import InvalidInputError

T = TypeVar("T")


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError(f"Environment variable {name}={value!r} is not a whole number (set by torchrun).") from None


@dataclass(frozen=True)
class Shard:
    """This process's place in a multi-process batch.

    Args:
        rank: global rank, 0..world_size-1 (``RANK``).
        world_size: number of processes over all nodes (``WORLD_SIZE``).
        local_rank: rank on this node, used to pick the GPU (``LOCAL_RANK``).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size or self.local_rank < 0:
            raise InvalidInputError(
                f"Inconsistent process layout: RANK={self.rank}, WORLD_SIZE={self.world_size}, LOCAL_RANK={self.local_rank}. "
                "Launch with torchrun, or set RANK in 0..WORLD_SIZE-1."
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Shard:
        """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (all default to a single process)."""
        env = os.environ if env is None else env
        rank = _env_int(env, "RANK", 0)
        return cls(rank, _env_int(env, "WORLD_SIZE", 1), _env_int(env, "LOCAL_RANK", rank if "RANK" in env else 0))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_leader(self) -> bool:
        return self.rank == 0

    def owns(self, index: int) -> bool:
        return index % self.world_size == self.rank

    def select(self, items: Sequence[T], index_of=lambda item: item.index) -> list[T]:
        """The items whose index this rank owns, in order."""
        return [item for item in items if self.owns(index_of(item))]

    def device(self, requested: str = "auto") -> str:
        """The device for this rank: with several ranks, ``auto``/``cuda`` become ``cuda:LOCAL_RANK`` when CUDA exists.

        An explicit ``cuda:N`` or ``cpu`` is kept as given.
        """
        name = (requested or "auto").strip().lower()
        import torch

        if name in ("auto", "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank % torch.cuda.device_count()}" if self.distributed else "cuda"
        return name

    def label(self) -> str:
        return f"rank {self.rank}/{self.world_size}" if self.distributed else "single process"
