"""Safe weight files: safetensors only, never unpickled."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..core.errors import BundleError

# torch.save writes a zip archive; pickle protocols 2-5 start with PROTO (0x80) and the protocol number.
_PICKLE_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def _safetensors_header_ok(handle, size: int) -> bool:
    """Whether the file starts with a plausible safetensors header: a length, then that many bytes of JSON."""
    handle.seek(0)
    head = handle.read(8)
    if len(head) < 8:
        return False
    (header_len,) = struct.unpack("<Q", head)
    if header_len <= 1 or header_len > 100_000_000 or header_len > size - 8:
        return False
    try:
        return isinstance(json.loads(handle.read(header_len)), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


def _check_safetensors_header(path: Path) -> None:
    # A valid header is checked first: its 8-byte length may itself start with 0x80.
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if _safetensors_header_ok(handle, size):
            return
        handle.seek(0)
        head = handle.read(8)
    if any(head.startswith(m) for m in _PICKLE_MAGIC):
        raise BundleError(
            f"{path.name} is a pickle/torch.save file renamed to .safetensors. BrainGen3D never unpickles "
            "weights, because loading a pickle can run arbitrary code. Convert it with safetensors.torch.save_file "
            "in a trusted environment."
        )
    if len(head) < 8:
        raise BundleError(f"{path.name} is truncated ({len(head)} bytes). Restore the bundle's weights.")
    raise BundleError(f"{path.name} is not a valid safetensors file (bad or unreadable header). Restore the bundle's weights.")


_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
                "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


def read_header(path: Path) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of a ``.safetensors`` file, from its header alone (no weights are read).

    The header's entries are checked against the file: each tensor's byte range must fit its dtype and shape,
    and the file must hold every byte the header promises.

    Raises:
        BundleError: a pickle renamed to .safetensors, a bad header, or a truncated file, naming the file.
    """
    path = Path(path)
    _check_safetensors_header(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_len))
    shapes: dict[str, tuple[int, ...]] = {}
    end_of_data = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            shape = tuple(int(s) for s in entry["shape"])
            begin, end = (int(o) for o in entry["data_offsets"])
            width = _DTYPE_BYTES[entry["dtype"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{path.name}: the header entry of tensor '{name}' is malformed ({exc!r}). Restore the "
                              "bundle's weights.") from exc
        count = 1
        for dim in shape:
            count *= dim
        if min(shape, default=0) < 0 or end - begin != count * width:
            raise BundleError(f"{path.name}: tensor '{name}' claims shape {shape} of {entry['dtype']} but "
                              f"{end - begin} bytes. The file is corrupt; restore the bundle's weights.")
        shapes[name] = shape
        end_of_data = max(end_of_data, end)
    if size < 8 + header_len + end_of_data:
        raise BundleError(f"{path.name} is truncated: its header promises {8 + header_len + end_of_data} bytes, the "
                          f"file holds {size}. Restore the bundle's weights.")
    return shapes


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
    _check_safetensors_header(path)
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
