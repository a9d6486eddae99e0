"""Translation functions for user-facing text.

Inside Slicer these are ``slicer.i18n.tr`` and ``slicer.i18n.translate``; outside it (scripts, tests
without the stand-ins) they return the text unchanged, so the library stays importable anywhere.
"""

from __future__ import annotations

try:
    from slicer.i18n import tr as _  # noqa: F401
    from slicer.i18n import translate  # noqa: F401
except ImportError:  # slicer-core or no Slicer at all

    def _(text: str) -> str:
        return text

    def translate(context: str, text: str) -> str:
        return text


__all__ = ["_", "translate"]
