"""A guard against a reference-count bug of PySide6 6.12 on Python 3.11 (tests only).

Measured here (PySide6 6.12.0, Python 3.11.7): every call of a Python slot from a Qt signal releases
one reference to ``None`` that it never took, and emitting a signal with an ``object`` argument does
the same to ``True``/``False``. Python 3.12 made these objects immortal, so the bug is invisible there;
on 3.11 a test session that clicks enough buttons drives ``None``'s count to zero and the interpreter
aborts ("Fatal Python error: none_dealloc"), at exit or in the middle of a test.

``immortalise_singletons`` gives them the 3.12 behaviour: their counts are raised far beyond anything
a test session can release. It changes nothing else, and does nothing on Python 3.12 and later.
"""

from __future__ import annotations

import ctypes
import sys

HEADROOM = 1 << 40


def immortalise_singletons() -> None:
    if sys.version_info >= (3, 12):
        return
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object.
        ctypes.c_ssize_t.from_address(id(singleton)).value += HEADROOM
