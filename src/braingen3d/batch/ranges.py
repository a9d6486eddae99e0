"""Command-line attribute ranges (``20-90``, ``5-15``, ``normal,enlarged``, ``both``) and drawing from them.

Every draw takes the case's own random generator, so a case's attributes depend only on the base
seed and the case index (see ``plan.py``), never on how many cases the batch has.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.errors import InvalidInputError

_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-|\.\.|:)\s*(\d+(?:\.\d+)?)\s*$")
_NUMBER = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")


@dataclass(frozen=True)
class NumberRange:
    """A closed interval ``[low, high]``; ``integer`` ranges draw whole numbers.

    Args:
        low: smallest value.
        high: largest value (equal to ``low`` for a fixed value).
        integer: draw integers (ages, lesion counts) instead of reals (sizes in mm).
    """

    low: float
    high: float
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> float | int:
        if self.integer:
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return float(round(rng.uniform(self.low, self.high), 1)) if self.high > self.low else float(self.low)

    def to_text(self) -> str:
        fmt = (lambda v: str(int(v))) if self.integer else (lambda v: f"{v:g}")
        return fmt(self.low) if self.low == self.high else f"{fmt(self.low)}-{fmt(self.high)}"


@dataclass(frozen=True)
class Choice:
    """A set of values, one drawn uniformly per case."""

    values: tuple[str, ...]

    def draw(self, rng: np.random.Generator) -> str:
        return self.values[0] if len(self.values) == 1 else self.values[int(rng.integers(len(self.values)))]

    def to_text(self) -> str:
        return ",".join(self.values)


def parse_number_range(text: str, option: str, integer: bool, minimum: float, maximum: float) -> NumberRange:
    """``"20-90"`` or ``"55"`` → :class:`NumberRange`, checked against ``[minimum, maximum]``.

    Args:
        text: the option's value.
        option: the option's name, for error messages (e.g. ``--age``).
        integer: whole numbers only.
        minimum: smallest allowed value.
        maximum: largest allowed value.
    """
    text = str(text)
    match = _RANGE.match(text)
    if match:
        low, high = float(match.group(1)), float(match.group(2))
    elif _NUMBER.match(text):
        low = high = float(text)
    else:
        raise InvalidInputError(f"{option} {text!r} is not a number or a range; write e.g. {option} 20-90 or {option} 55.")
    if integer and (low != int(low) or high != int(high)):
        raise InvalidInputError(f"{option} {text!r} must use whole numbers, e.g. {option} {int(low)}-{int(high)}.")
    if low > high:
        raise InvalidInputError(f"{option} {text!r}: the lower end is above the upper end; write {option} {high:g}-{low:g}.")
    if low < minimum or high > maximum:
        raise InvalidInputError(f"{option} {text!r} is outside the allowed {minimum:g}-{maximum:g}.")
    return NumberRange(low, high, integer)


def parse_choice(text: str, option: str, allowed: Sequence[str], aliases: dict[str, Sequence[str]] | None = None) -> Choice:
    """``"normal,enlarged"`` → :class:`Choice`; ``aliases`` expand a word (``both`` → ``F``, ``M``).

    Args:
        text: comma-separated values (case-insensitive).
        option: the option's name, for error messages.
        allowed: the canonical values.
        aliases: extra words and the canonical values they stand for.
    """
    aliases = {k.lower(): tuple(v) for k, v in (aliases or {}).items()}
    canonical = {a.lower(): a for a in allowed}
    values: list[str] = []
    for word in (w.strip() for w in str(text).split(",")):
        if not word:
            continue
        expanded = aliases.get(word.lower()) or ((canonical[word.lower()],) if word.lower() in canonical else None)
        if expanded is None:
            known = sorted(set(allowed) | set(aliases))
            raise InvalidInputError(f"{option}: unknown value {word!r}; choose from {', '.join(known)} (comma-separated).")
        values.extend(v for v in expanded if v not in values)
    if not values:
        raise InvalidInputError(f"{option} is empty; give at least one of {', '.join(allowed)}.")
    return Choice(tuple(values))
