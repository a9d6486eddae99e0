"""Putting measured report sections into a bundle's model card (README.md), replacing older ones."""

from __future__ import annotations

from pathlib import Path

from braingen3d.io import atomic_write_text


def replace_section(text: str, section: str) -> str:
    """``text`` with the level-2 section that has ``section``'s heading replaced by ``section`` (or appended).

    Args:
        text: a Markdown document.
        section: a Markdown section starting with a ``## `` heading line.
    """
    heading = section.splitlines()[0].strip()
    if not heading.startswith("## "):
        raise ValueError(f"A card section must start with a '## ' heading, not {heading!r}.")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        return text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    replaced = lines[:start] + section.rstrip("\n").splitlines() + ([""] + lines[end:] if end < len(lines) else [])
    return "\n".join(replaced).rstrip("\n") + "\n"


def update_card(card: Path, section: str) -> None:
    """Replace (or append) ``section`` in the model card file ``card``, atomically."""
    card = Path(card)
    if not card.is_file():
        raise FileNotFoundError(f"No model card at {card}; pass the bundle's README.md.")
    atomic_write_text(card, replace_section(card.read_text(encoding="utf-8"), section), overwrite=True)
