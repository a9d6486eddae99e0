"""RePaint's resampling schedule: the path of noise-level indices the sampler walks (no torch: requests use it)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import InvalidInputError


@dataclass(frozen=True)
class Resampling:
    """How RePaint harmonises the generated region with the known one.

    Args:
        rounds: how many times each jump is repeated (0 = plain masked sampling, no resampling).
        jump_length: how many steps each jump goes back up the schedule.
        stop_fraction: no jumps after this fraction of the steps (the last steps only refine detail).
    """

    rounds: int = 2
    jump_length: int = 1
    stop_fraction: float = 0.8

    def validate(self) -> "Resampling":
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or not 0 <= self.rounds <= 20:
            raise InvalidInputError(f"resample rounds must be an integer from 0 to 20; got {self.rounds!r}.")
        if isinstance(self.jump_length, bool) or not isinstance(self.jump_length, int) or not 1 <= self.jump_length <= 50:
            raise InvalidInputError(f"jump length must be an integer from 1 to 50; got {self.jump_length!r}.")
        if not 0.0 <= float(self.stop_fraction) <= 1.0:
            raise InvalidInputError(f"stop fraction must be in [0, 1]; got {self.stop_fraction!r}.")
        return self

    def path(self, num_steps: int) -> list[int]:
        """Indices visited, starting at 0 (pure noise) and ending at ``num_steps`` (clean).

        Going from ``k`` to ``k + 1`` is one sampler step; going from ``k`` to ``k - jump_length``
        re-noises. After reaching a jump point ``k`` (a multiple of ``jump_length`` with
        ``k <= stop_fraction * num_steps``, ``k < num_steps``) the walk jumps back ``rounds`` times.
        """
        jumps_left: dict[int, int] = {}
        path = [0]
        index = 0
        while index < num_steps:
            index += 1
            path.append(index)
            is_jump_point = (index % self.jump_length == 0 and index >= self.jump_length and index < num_steps
                             and index <= self.stop_fraction * num_steps)
            if is_jump_point:
                left = jumps_left.setdefault(index, self.rounds)
                if left > 0:
                    jumps_left[index] = left - 1
                    index -= self.jump_length
                    path.append(index)
        return path

    @staticmethod
    def model_evaluations(path: list[int]) -> int:
        """Sampler steps (U-Net evaluations) along ``path``."""
        return sum(1 for a, b in zip(path, path[1:]) if b > a)
