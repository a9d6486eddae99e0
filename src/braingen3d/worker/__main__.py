"""``python -m braingen3d.worker``: serve one request."""

import sys

from .server import serve

sys.exit(serve())
