"""Inpainting defaults that the CLI shows without importing torch."""

DEFAULT_BLEND_MARGIN_MM = 2.0
