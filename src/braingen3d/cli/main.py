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
    _add_output_options(parser, "")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for module in (generate, info, inpaint, provenance, batch, export, evaluate):
        module.add_parser(subparsers)
    for subparser in subparsers.choices.values():  # -v/-q are accepted after the command too
        _add_output_options(subparser, AFTER_COMMAND)
    return parser


AFTER_COMMAND = "_after_command"


def _add_output_options(parser: argparse.ArgumentParser, suffix: str) -> None:
    """-v/-q. A subcommand's parser fills its own namespace, which argparse copies over the main one, so the
    copies after the command have their own names (``verbose_after_command``) and ``main`` adds them up."""
    after = {"default": argparse.SUPPRESS} if suffix else {}
    parser.add_argument("-v", "--verbose", action="count", dest="verbose" + suffix, help="more log output",
                        **(after or {"default": 0}))
    parser.add_argument("-q", "--quiet", action="store_true", dest="quiet" + suffix,
                        help="no progress bar, warnings and errors only", **after)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    args.verbose += getattr(args, "verbose" + AFTER_COMMAND, 0)
    args.quiet = args.quiet or getattr(args, "quiet" + AFTER_COMMAND, False)
    configure_logging(-1 if args.quiet else args.verbose)
    return run_guarded(lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
