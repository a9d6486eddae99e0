"""``braingen3d info``: the bundle's card and capabilities."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..bundle import default_bundle_path, read_config
from ..core.device import describe_devices
from .common import EXIT_BUNDLE, EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="show a bundle's model card, capabilities and this machine's devices",
                                   description="Print the model card and capabilities of a bundle, and whether it can "
                                               "be used: the config's fields and size, and each weights file's header "
                                               "and tensor shapes, are checked without loading the weights (exit "
                                               "code 3 when it cannot).")
    parser.add_argument("--bundle", type=Path, default=None, help="model bundle folder (default: the embedded bundle)")
    parser.add_argument("--json", action="store_true", help="print the bundle config as JSON instead")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..bundle.inspection import inspect_bundle

    path = args.bundle or default_bundle_path()
    if args.json:
        print(json.dumps(read_config(path).to_dict(), indent=2))
        return EXIT_OK
    report = inspect_bundle(Path(path))
    config = report.config
    print(report.card or "(this bundle has no model card)")
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
    print(f"parameters:    {report.parameters / 1e6:.1f}M")
    print(f"devices:       {describe_devices()}")
    if report.usable:
        print("usable:        yes (config, weights headers and tensor shapes agree)")
        return EXIT_OK
    print("usable:        NO, this bundle cannot be used:")
    for problem in report.problems:
        print(f"  - {problem}")
    return EXIT_BUNDLE
