"""Model bundles: a folder with config.json, safetensors weights and a model card."""

from .bundle import Bundle, default_bundle_path, embedded_bundle_path, load_bundle, save_bundle
from .config import BundleConfig, read_config
from .presets import PRESETS, preset_config
from .random_bundle import make_random_bundle, small_config

__all__ = [
    "Bundle",
    "BundleConfig",
    "default_bundle_path",
    "embedded_bundle_path",
    "load_bundle",
    "make_random_bundle",
    "PRESETS",
    "preset_config",
    "read_config",
    "save_bundle",
    "small_config",
]
