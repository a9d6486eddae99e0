"""``braingen3d provenance FILE``: print how a synthetic file was made."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..export.provenance_reader import read_provenance
from .common import EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("provenance", help="print the provenance recorded in an output file",
                                   description="Print the generation parameters stored in a BrainGen3D output "
                                               "(NIfTI, NRRD, .seg.nrrd, DICOM, or its JSON sidecar).")
    parser.add_argument("file", type=Path, help="a file written by braingen3d")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(read_provenance(args.file), indent=2, sort_keys=True))
    return EXIT_OK
