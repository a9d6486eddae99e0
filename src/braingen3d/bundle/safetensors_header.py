"""The safetensors header: what a weights file holds, read without reading (or unpickling) any weights.

Standard library only, so the Slicer panel can check a bundle's weights without torch.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

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


def check_safetensors_header(path: Path) -> None:
    """Refuse a file that does not start with a safetensors header, naming a pickle or a truncated file."""
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
    check_safetensors_header(path)
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
