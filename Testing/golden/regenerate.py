"""Rewrite Testing/golden/embedded_bundle.json from the current engine, bundle and dependencies.

Run it only when a change to the default bundle's voxels is intended (new bundle weights, a sampler change,
a diffusers/MONAI/torch version bump together with constraints.txt), from the repository root:

    PYTHONPATH=src .venv/bin/python -m Testing.golden.regenerate

and commit the JSON with the change that caused it, saying why the voxels moved.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make ``Testing`` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from Testing.golden import golden_summary as golden  # noqa: E402

logger = logging.getLogger("regenerate_golden")


def build_golden() -> dict:
    """Generate every golden volume and return the file's content."""
    with golden.golden_environment():
        pipeline = golden.load_pipeline()
        volumes = {}
        settings = {}
        for modality in golden.PROMPTS:
            volume = golden.generate(pipeline, modality)
            volumes[modality] = golden.summarise(volume.array)
            settings = {key: volume.provenance[key] for key in
                        ("bundle_id", "bundle_version", "steps", "guidance_scale", "sampler", "precision", "device")}
            logger.info("%s: mean %.6f, in-brain mean %.6f", modality, volumes[modality]["stats"]["mean"],
                        volumes[modality]["stats"]["in_brain_mean"])
    return {
        "description": "Summary statistics of the embedded default bundle's output for fixed requests; "
                       "compared by Testing/golden/test_golden_embedded_bundle.py. Regenerate with: "
                       + golden.REGENERATE_COMMAND,
        "request": {"prompts": golden.PROMPTS, "seed": golden.SEED, **settings},
        "environment": golden.environment(),
        "volumes": volumes,
    }


def to_json(content: dict) -> str:
    """Indented JSON with each innermost list of numbers on one line (a coarse row per line)."""
    text = json.dumps(content, indent=1)
    return re.sub(r"\[\s*([-+0-9.eE,\s]+?)\s*\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                  text) + "\n"


def write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=golden.GOLDEN_PATH, help="where to write the JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    content = build_golden()
    if args.output.is_file():
        old = json.loads(args.output.read_text(encoding="utf-8"))
        for modality, summary in content["volumes"].items():
            if modality in old.get("volumes", {}):
                logger.info("%s: largest change from the previous golden file %.3g", modality,
                            golden.largest_difference(old["volumes"][modality], summary))
    write_atomically(args.output, to_json(content))
    logger.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
