"""Errors specific to inpainting; both are bad input (CLI exit 2, worker ``invalid_input``)."""

from __future__ import annotations

from ..errors import InvalidInputError


class InpaintUnsupportedError(InvalidInputError):
    """The bundle cannot inpaint, or not with the requested method."""


class MaskError(InvalidInputError):
    """The lesion mask is empty, misplaced, too large, or not a binary mask."""
