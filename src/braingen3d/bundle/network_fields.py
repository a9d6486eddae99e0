"""Type and range checks of a bundle config's network fields, run before any network is built.

A network built from a bad field fails deep inside MONAI or torch (a negative tensor dimension, a string
formatted as a number) or, for a huge one, only after allocating gigabytes. Each field is checked here by
name instead, and the message names the field and the fix. No torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..core.errors import BundleError

MAX_CHANNELS = 4096
"""More feature channels than any 3D diffusion network of this kind uses (MAISI's widest level has 512)."""
MAX_LEVELS = 8
MAX_RES_BLOCKS = 16
MAX_TRANSFORMER_LAYERS = 16

_COUNTS = ("in_channels", "out_channels", "latent_channels")
_FLAGS = ("with_conditioning", "resblock_updown", "upcast_attention", "include_fc", "use_combined_linear",
          "with_encoder_nonlocal_attn", "with_decoder_nonlocal_attn", "prompt_attributes", "lesion_attributes",
          "use_flash_attention", "whiten", "channel_whitening")


def _fail(field: str, expected: str, value: Any) -> BundleError:
    return BundleError(f"Bundle config field '{field}' must be {expected}; got {value!r}. Fix the config or "
                       "re-export the bundle with the training scripts.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(field: str, value: Any, low: int, high: int) -> int:
    if not _is_int(value) or not low <= value <= high:
        raise _fail(field, f"a whole number from {low} to {high}", value)
    return value


def _int_or_levels(field: str, value: Any, levels: int, low: int, high: int) -> None:
    """A whole number, or one per level of ``channels``."""
    if isinstance(value, (list, tuple)):
        if len(value) != levels:
            raise _fail(field, f"a whole number or a list of {levels} (one per entry of 'channels')", value)
        for index, item in enumerate(value):
            _int_in(f"{field}[{index}]", item, low, high)
    else:
        _int_in(field, value, low, high)


def check_network_fields(name: str, net: Any, channels_required: bool = True) -> None:
    """Check the types and ranges of the network field ``name`` (``autoencoder``, ``unet``, ``inpaint_unet``,
    ``controlnet``) before anything is built.

    Args:
        name: the config field, for messages.
        net: its value: a JSON object of keyword arguments.
        channels_required: whether ``channels`` must be given (a ControlNet may take MONAI's default).

    Raises:
        BundleError: naming the first bad field, what it must be and the fix.
    """
    if not isinstance(net, Mapping):
        raise _fail(name, "a JSON object of network arguments", net)
    channels = net.get("channels")
    if channels is None and not channels_required:
        channels = [1]  # MONAI's default; only the level-independent fields can be checked
    if not isinstance(channels, (list, tuple)) or not 1 <= len(channels) <= MAX_LEVELS:
        raise _fail(f"{name}.channels", f"a list of 1 to {MAX_LEVELS} whole numbers (feature channels per level)",
                    channels)
    for index, count in enumerate(channels):
        _int_in(f"{name}.channels[{index}]", count, 1, MAX_CHANNELS)
    levels = len(channels) if "channels" in net else None
    for key in _COUNTS:
        if key in net:
            _int_in(f"{name}.{key}", net[key], 1, MAX_CHANNELS)
    if levels is not None:
        _check_levels(name, net, levels)
    if "norm_num_groups" in net:
        groups = _int_in(f"{name}.norm_num_groups", net["norm_num_groups"], 1, MAX_CHANNELS)
        uneven = [c for c in channels if c % groups] if levels is not None else []
        if uneven:
            raise BundleError(f"Bundle config field '{name}.norm_num_groups' is {groups} but channels {uneven} of "
                              f"'{name}.channels' are not multiples of it; group normalisation needs them to be.")
    if net.get("cross_attention_dim") is not None:
        _int_in(f"{name}.cross_attention_dim", net["cross_attention_dim"], 1, MAX_CHANNELS)
    if "transformer_num_layers" in net:
        _int_in(f"{name}.transformer_num_layers", net["transformer_num_layers"], 1, MAX_TRANSFORMER_LAYERS)
    if net.get("num_class_embeds") is not None:
        _int_in(f"{name}.num_class_embeds", net["num_class_embeds"], 1, 1_000_000)
    for key in _FLAGS:
        if key in net and not isinstance(net[key], bool):
            raise _fail(f"{name}.{key}", "true or false", net[key])
    for key, low, high in (("norm_eps", 0.0, 1.0), ("dropout_cattn", 0.0, 1.0)):
        value = net.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or not low <= value <= high):
            raise _fail(f"{name}.{key}", f"a number from {low:g} to {high:g}", value)
    if "scale_factor" in net:
        value = net["scale_factor"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise _fail(f"{name}.scale_factor", "a finite number above 0", value)


def _check_levels(name: str, net: Mapping[str, Any], levels: int) -> None:
    """The fields given per level of ``channels``."""
    if "num_res_blocks" in net:
        _int_or_levels(f"{name}.num_res_blocks", net["num_res_blocks"], levels, 1, MAX_RES_BLOCKS)
    if "num_head_channels" in net:
        _int_or_levels(f"{name}.num_head_channels", net["num_head_channels"], levels, 0, MAX_CHANNELS)
    if "attention_levels" in net:
        attention = net["attention_levels"]
        if not isinstance(attention, (list, tuple)) or len(attention) != levels or \
                not all(isinstance(a, bool) for a in attention):
            raise _fail(f"{name}.attention_levels", f"a list of {levels} booleans (one per entry of 'channels')",
                        attention)
