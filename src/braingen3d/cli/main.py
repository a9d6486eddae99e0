"""Entry point of the ``braingen3d`` command."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import batch, evaluate, export, generate, info, inpaint, provenance
from .common import configure_logging, run_guarded


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="braingen3d",
        description="Synthetic 3D brain MRI from text prompts (latent diffusion). Every output is marked SYNTHETIC.",
    )
    parser.add_argument("--version", action="version", version=f"braingen3d {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar, warnings and errors only")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for module in (generate, info, inpaint, provenance, batch, export, evaluate):
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    configure_logging(-1 if args.quiet else args.verbose)
    return run_guarded(lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
