"""Model bundles: a folder with config.json, safetensors weights and a model card."""

from .._lazy import lazy_attributes

_EXPORTS = {
    "Bundle": ".bundle",
    "default_bundle_path": ".locations",
    "embedded_bundle_path": ".locations",
    "load_bundle": ".bundle",
    "save_bundle": ".bundle",
    "BundleConfig": ".config",
    "read_config": ".config",
    "PRESETS": ".presets",
    "preset_config": ".presets",
    "make_random_bundle": ".random_bundle",
}
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)
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
]
