"""Shared CLI plumbing: logging, the progress bar, error reporting."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from tqdm import tqdm

from ..core.errors import BrainGenError
from ..core.progress import ProgressEvent

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_BUNDLE, EXIT_CANCELLED = 0, 1, 2, 3, 130

logger = logging.getLogger("braingen3d")


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


class ProgressBar:
    """A tqdm bar over all steps of all volumes; the ETA is tqdm's, per step."""

    def __init__(self, total_steps: int, disable: bool = False) -> None:
        self.bar = tqdm(total=total_steps, unit="step", desc="generating", disable=disable, file=sys.stderr,
                        dynamic_ncols=True)

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase == "denoise":
            self.bar.set_description(f"volume {event.volume}/{event.num_volumes}")
            self.bar.update(1)
        else:
            self.bar.set_postfix_str("decoded")

    def close(self) -> None:
        self.bar.close()


def _print_notes(exc: BaseException) -> None:
    """What the command added to the error, e.g. which of several volumes are finished on disk."""
    for note in getattr(exc, "__notes__", ()):
        print(note, file=sys.stderr)


def run_guarded(action: Callable[[], int]) -> int:
    """Run a subcommand; turn engine errors into a one-line message (and the notes the command added to it) and an
    exit code."""
    try:
        return action()
    except BrainGenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _print_notes(exc)
        if exc.kind == "cancelled":
            return EXIT_CANCELLED
        return EXIT_BUNDLE if exc.kind == "bundle" else EXIT_USAGE
    except OSError as exc:  # e.g. a full disk: the atomic writers removed the file they were writing
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}. The output being written was removed, so no partial file is "
              "left; free space or fix the path and retry.", file=sys.stderr)
        _print_notes(exc)
        return EXIT_INTERNAL
    except KeyboardInterrupt as exc:
        print("error: interrupted; the output being written was removed, so no partial file is left.", file=sys.stderr)
        _print_notes(exc)
        return EXIT_CANCELLED
