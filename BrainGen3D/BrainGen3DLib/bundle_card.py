"""The bundle card shown in the panel, read from the bundle folder's own files (no torch).

A bundle folder holds ``config.json`` (what the networks and grid are), ``README.md`` (the model
card) and ``*.safetensors`` weights. The two text files are read here; once the engine is installed,
its torch-free file checks (``braingen3d.bundle.files``) also look at every weights file the config
needs (missing, not a regular file, outside the folder, pickled, truncated: read from the safetensors
header, no weights loaded), and the card lists what makes the bundle unusable. The worker checks the
tensor shapes when it loads the bundle.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .i18n import _

CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
BUNDLE_ENV = "BRAINGEN3D_BUNDLE"
CARD_PREVIEW_CHARS = 600


class BundleCardError(ValueError):
    """The folder is not a readable bundle; the message says what to do."""


@dataclass
class BundleCard:
    """What the panel shows about a bundle.

    Attributes:
        path: the bundle folder.
        bundle_id, version, name: identity from config.json.
        shape, spacing: the voxel grid the bundle generates.
        modalities: modalities it was trained on.
        sampling_defaults: ``sampler``, ``steps``, ``guidance_scale``.
        capabilities: e.g. ``text``, ``inpaint``.
        structure_guidance_scale: the bundle's default structure-guidance weight (0: shipped off), or
            None when it has no structure guidance.
        card: the model card's Markdown text.
        weights: names of the ``.safetensors`` files present.
        problems: why the bundle's files cannot be used (empty when they can, or when the engine that
            checks them is not installed yet).
    """

    path: Path
    bundle_id: str
    version: str
    name: str
    shape: list[int]
    spacing: list[float]
    modalities: list[str] = field(default_factory=list)
    sampling_defaults: dict[str, Any] = field(default_factory=dict)
    capabilities: dict[str, Any] = field(default_factory=dict)
    structure_guidance_scale: float | None = None
    card: str = ""
    weights: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def engine_package_folder() -> Path | None:
    """Where the ``braingen3d`` package is installed, found without importing it (and so torch)."""
    spec = importlib.util.find_spec("braingen3d")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def source_checkout_root() -> Path | None:
    """The repository root when this module runs from a source checkout (``src/braingen3d`` beside it)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "braingen3d").is_dir() else None


def default_bundle_folder() -> Path | None:
    """The bundle the engine uses when none is given: ``$BRAINGEN3D_BUNDLE``, else the embedded default.

    Returns None when no such folder holds a config.json.
    """
    candidates = []
    if os.environ.get(BUNDLE_ENV):
        candidates.append(Path(os.environ[BUNDLE_ENV]))
    else:
        package = engine_package_folder()
        if package is not None:
            candidates.append(package / "bundles" / "default")
        checkout = source_checkout_root()
        if checkout is not None:
            candidates.append(checkout / "src" / "braingen3d" / "bundles" / "default")
    for folder in candidates:
        if (folder / CONFIG_NAME).is_file():
            return folder
    return None


def read_bundle_card(folder: str | os.PathLike) -> BundleCard:
    """Read a bundle folder's config.json and README.md.

    Raises:
        BundleCardError: the folder or its config.json is missing or unreadable.
    """
    if str(folder).strip() in ("", "."):
        raise BundleCardError(_("No bundle folder is chosen. Choose one, or tick 'Embedded default'."))
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleCardError(_("Bundle folder '{folder}' does not exist. Choose a folder that holds config.json.").format(
            folder=folder))
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise BundleCardError(_("'{folder}' has no config.json, so it is not a BrainGen3D bundle. Choose the folder "
                                "written by the training scripts.").format(folder=folder))
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
        spatial = config.get("spatial") or {}
        card = BundleCard(
            path=folder,
            bundle_id=str(config["bundle_id"]),
            version=str(config.get("version", "")),
            name=str(config.get("name", config["bundle_id"])),
            shape=[int(s) for s in spatial.get("shape", [])],
            spacing=[round(float(s), 3) for s in spatial.get("spacing", [])],
            modalities=list(config.get("modalities") or []),
            sampling_defaults=dict(config.get("sampling_defaults") or {}),
            capabilities=dict(config.get("capabilities") or {}),
        )
        if card.capabilities.get("structure_guidance"):
            card.structure_guidance_scale = float(config["structure_guidance"]["guidance_scale"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise BundleCardError(_("{path} is not a valid bundle config ({error}). Restore it from the original "
                                "bundle.").format(path=config_path, error=exc)) from exc
    checks = _engine_file_checks()
    card_path = folder / CARD_NAME
    if checks is not None:
        try:
            card_path = checks.bundle_file(folder, CARD_NAME, required=False)
        except checks.BundleError as problem:  # e.g. a README.md that resolves outside the bundle: never shown
            card.problems.append(str(problem))
            card_path = None
        card.problems += checks.weight_file_problems(folder, config)
    if card_path is not None and card_path.is_file():
        card.card = card_path.read_text(encoding="utf-8", errors="replace")
    card.weights = sorted(p.name for p in folder.glob("*.safetensors"))
    return card


def _engine_file_checks():
    """The engine's torch-free bundle file checks (``braingen3d.bundle.files``, with ``BundleError``), or None
    before the engine is installed."""
    if importlib.util.find_spec("braingen3d") is None:
        return None
    from braingen3d.bundle import files

    return files


def card_html(card: BundleCard) -> str:
    """A compact rich-text summary of ``card`` for a QLabel (one line per item, then the card's summary)."""
    rows = [
        (_("Bundle"), f"{card.name} ({card.bundle_id} {card.version})"),
        (_("Grid"), " × ".join(map(str, card.shape)) + (f" @ {card.spacing[0]:g} mm" if card.spacing else "")),
        (_("Modalities"), ", ".join(card.modalities) or _("not stated")),
        (_("Defaults"), ", ".join(f"{k} {v}" for k, v in card.sampling_defaults.items()) or _("none")),
        (_("Weights"), ", ".join(card.weights) or _("none found")),
    ]
    if card.structure_guidance_scale is not None:
        rows.insert(4, (_("Structure guidance"),
                        _("weight {weight:g} by default").format(weight=card.structure_guidance_scale)
                        if card.structure_guidance_scale > 0 else _("off by default")))
    lines = [f"<b>{html.escape(k)}:</b> {html.escape(v)}" for k, v in rows]
    if card.problems:
        lines.append("<span style='color:#b00020'><b>" + html.escape(_("Cannot be used")) + ":</b> "
                     + html.escape(" ".join(card.problems)) + "</span>")
    preview = _card_preview(card.card)
    if preview:
        lines.append(f"<i>{html.escape(preview)}</i>")
    return "<br>".join(lines)


def _card_preview(markdown: str) -> str:
    """The first paragraph of prose in a Markdown card (headings skipped), shortened."""
    lines = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if lines:
                break
            continue
        if not stripped:
            if lines:
                break
            continue
        lines.append(stripped)
    text = re.sub(r"\*\*|__|`", "", " ".join(lines))  # shown as plain text: drop Markdown emphasis and code marks
    return text if len(text) <= CARD_PREVIEW_CHARS else text[:CARD_PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"
