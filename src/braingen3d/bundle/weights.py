"""Safe weight files: safetensors only, never unpickled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..core.errors import BundleError
from .safetensors_header import check_safetensors_header


def check_shapes(expected: dict[str, tuple[int, ...]], given: dict[str, tuple[int, ...]], prefix: str,
                 filename: str) -> None:
    """Refuse weights whose tensor names or shapes differ from the network's, naming the config field behind it.

    Args:
        expected: the network's state-dict shapes.
        given: the file's shapes (earlier U-Net module names are renamed first, ``rename_legacy_keys``).
        prefix: the config field of the network, e.g. ``unet``.
        filename: the weights file, for messages.
    """
    given = rename_legacy_keys(given)
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise BundleError(
            f"{filename} does not match the config field '{prefix}' ({len(missing)} missing, {len(unexpected)} "
            f"unexpected tensors, e.g. {detail}). Check '{prefix}.channels', '{prefix}.num_res_blocks' and "
            f"'{prefix}.attention_levels' against the weights."
        )
    for key, shape in expected.items():
        if tuple(given[key]) != tuple(shape):
            raise BundleError(
                f"{filename}: tensor '{key}' has shape {tuple(given[key])} but config field "
                f"'{_field_for_key(prefix, key)}' implies {tuple(shape)}. The config does not match the weights."
            )


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file after checking it is one."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"The weights file {path} is missing. Restore the bundle folder or re-export it.")
    check_safetensors_header(path)
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"{path.name} is corrupt ({exc}). Restore the bundle's weights.") from exc


STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def save_weights(state_dict: dict[str, torch.Tensor], path: Path, dtype: str = "float32") -> None:
    """Write ``state_dict`` as safetensors; floating tensors are stored as ``dtype`` (``float32`` or ``float16``).

    Loading casts them back to the network's dtype, so float16 storage halves a bundle's size at the
    cost of rounding the weights (about 3 significant digits).
    """
    if dtype not in STORAGE_DTYPES:
        raise BundleError(f"Unknown weights dtype {dtype!r}; choose one of {sorted(STORAGE_DTYPES)}.")
    target = STORAGE_DTYPES[dtype]
    tensors = {}
    for key, value in state_dict.items():
        value = value.detach().cpu()
        if value.is_floating_point() and value.dtype != target:
            value = value.to(target)
            if not torch.isfinite(value).all():
                raise BundleError(f"Tensor '{key}' does not fit in {dtype} (values up to "
                                  f"{float(state_dict[key].abs().max()):.3g}); save the bundle in float32.")
        tensors[key] = value.contiguous()
    save_file(tensors, str(path))
    # safetensors creates its files 0600; give them the usual permissions under the umask, so a shared
    # or packaged bundle is readable by others.
    umask = os.umask(0)
    os.umask(umask)
    Path(path).chmod(0o666 & ~umask)


def _field_for_key(prefix: str, key: str) -> str:
    if "attn2" in key and ("to_k" in key or "to_v" in key):
        return f"{prefix}.cross_attention_dim"
    if key.startswith(("conv_in", "encoder.blocks.0.")) :
        return f"{prefix}.in_channels"
    if key.startswith(("out.", "decoder.blocks")) and key.count(".") <= 3 and "out" in key.split(".")[0]:
        return f"{prefix}.out_channels"
    if "quant_conv" in key or "conv_mu" in key or "conv_sigma" in key:
        return f"{prefix}.latent_channels"
    return f"{prefix}.channels"


LEGACY_PREFIXES = (
    ("prompt_attribute_embed.anatomical_prior.", "anatomical_prior."),
    ("prompt_attribute_embed.mlp.", "attribute_embedding.mlp."),
)
"""State-dict names of bundles written before the U-Net took its conditioning as arguments, and their names now."""


def rename_legacy_keys(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with the U-Net's earlier module names (``LEGACY_PREFIXES``) renamed; a renamed key wins over a
    current one given before it."""
    renamed: dict[str, Any] = {}
    for key, tensor in state.items():
        for old, new in LEGACY_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        renamed[key] = tensor
    return renamed


def load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], prefix: str, filename: str) -> None:
    """Load ``state`` into ``module``, refusing any mismatch and naming the config field behind it.

    Earlier module names of the U-Net are renamed first (``rename_legacy_keys``), so every bundle loads.
    """
    state = rename_legacy_keys(state)
    check_shapes({k: tuple(t.shape) for k, t in module.state_dict().items()},
                 {k: tuple(t.shape) for k, t in state.items()}, prefix, filename)
    module.load_state_dict(state, strict=True)
