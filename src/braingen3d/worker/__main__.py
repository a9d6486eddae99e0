"""``python -m braingen3d.worker``: serve one request; with ``--persistent``, serve requests until told to stop."""

import argparse
import sys

parser = argparse.ArgumentParser(prog="python -m braingen3d.worker",
                                 description="The BrainGen3D worker: JSON requests on stdin, JSON-line events on stdout.")
parser.add_argument("--persistent", action="store_true",
                    help="stay alive between requests (one JSON request per line) with the last bundle loaded")
parser.add_argument("--idle-timeout", type=float, default=600.0, metavar="SECONDS",
                    help="with --persistent: exit after this many seconds without a request (0: never; default 600)")
args = parser.parse_args()
if args.idle_timeout < 0:
    parser.error("--idle-timeout must be 0 (never) or a number of seconds.")
if args.persistent:
    from .persistent import serve_persistent

    sys.exit(serve_persistent(idle_timeout=args.idle_timeout))
from .server import serve  # noqa: E402

sys.exit(serve())
