"""Errors the engine raises. Each message names the problem and the fix."""

from __future__ import annotations


class BrainGenError(Exception):
    """Base class for every error the engine reports to a user."""

    kind = "internal"


class InvalidInputError(BrainGenError, ValueError):
    """A parameter or input file is not acceptable."""

    kind = "invalid_input"


class BundleError(BrainGenError):
    """A model bundle is missing, corrupt, or does not match its config."""

    kind = "bundle"


class OutputExistsError(BrainGenError, FileExistsError):
    """The output exists and overwriting was not requested."""

    kind = "invalid_input"


class DeviceError(BrainGenError):
    """The requested device is unknown or not available."""

    kind = "invalid_input"


class CancelledError(BrainGenError):
    """The caller cancelled the run."""

    kind = "cancelled"


class InpaintUnsupportedError(InvalidInputError):
    """The bundle cannot inpaint, or not with the requested method."""


class MaskError(InvalidInputError):
    """The lesion mask is empty, misplaced, too large, or not a binary mask."""


class NonFiniteOutputError(BrainGenError):
    """A volume about to be written holds NaN or infinite voxels; nothing is written."""


class InputNotFoundError(InvalidInputError, FileNotFoundError):
    """An input file or folder does not exist."""
