"""``braingen3d info``: the bundle's card and capabilities."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..bundle import default_bundle_path, read_config
from ..bundle.config import CARD_NAME
from ..core.device import describe_devices
from .common import EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="show a bundle's model card, capabilities and this machine's devices",
                                   description="Print the model card and capabilities of a bundle.")
    parser.add_argument("--bundle", type=Path, default=None, help="model bundle folder (default: the embedded bundle)")
    parser.add_argument("--json", action="store_true", help="print the bundle config as JSON instead")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path = args.bundle or default_bundle_path()
    config = read_config(path)
    if args.json:
        print(json.dumps(config.to_dict(), indent=2))
        return EXIT_OK
    card = (Path(path) / CARD_NAME)
    print(card.read_text(encoding="utf-8") if card.is_file() else "(this bundle has no model card)")
    caps = config.capabilities
    print("---")
    print(f"bundle:        {config.bundle_id} {config.version}  ({path})")
    print(f"grid:          {'x'.join(map(str, config.grid.shape))} voxels at {'x'.join(f'{s:g}' for s in config.grid.spacing)} mm, RAS")
    print(f"modalities:    {', '.join(config.modalities)}")
    print(f"capabilities:  text={caps.get('text', False)} inpaint={caps.get('inpaint', [])} controlnet={caps.get('controlnet', False)} "
          f"structure_guidance={caps.get('structure_guidance', False)}")
    d = config.sampling_defaults
    print(f"defaults:      sampler={d['sampler']} steps={d['steps']} guidance={d['guidance_scale']}"
          + (f" structure_guidance={config.structure_guidance['guidance_scale']}" if caps.get("structure_guidance") else ""))
    print(f"text encoder:  {config.text_encoder['id']} ({config.text_encoder.get('max_tokens', 64)} tokens)")
    print(f"devices:       {describe_devices()}")
    return EXIT_OK
