"""A bundle's files: regular files inside the bundle folder, or refused saying what they are. No torch."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.errors import BundleError
from .safetensors_header import read_header

MISSING = "missing"
AUTOENCODER_FILE = "autoencoder.safetensors"
UNET_FILE = "unet.safetensors"
INPAINT_UNET_FILE = "inpaint_unet.safetensors"
CONTROLNET_FILE = "controlnet.safetensors"
STRUCTURE_REGRESSOR_FILE = "structure_regressor.safetensors"


def file_kind(path: Path) -> str | None:
    """None for a regular file (or a symbolic link to one); otherwise what ``path`` is, in words:
    ``missing``, a broken symbolic link, a symbolic link loop, a folder, a FIFO, a device or a socket."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"a broken symbolic link (to {os.readlink(path)})"
        return MISSING
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symbolic link loop"
        return f"unreadable ({error.strerror})"
    if stat.S_ISREG(mode):
        return None
    for test, words in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "not a regular file"


def bundle_file(bundle_dir: Path, name: str, required: bool = True) -> Path | None:
    """``bundle_dir / name`` if it is a regular file inside the bundle folder.

    Args:
        bundle_dir: the bundle folder.
        name: the file's name in it.
        required: a missing file raises; otherwise it gives None.

    Raises:
        BundleError: the file is missing (when required), is not a regular file (saying what it is), or
            resolves to a place outside the bundle folder.
    """
    path = Path(bundle_dir) / name
    kind = file_kind(path)
    if kind == MISSING:
        if not required:
            return None
        raise BundleError(f"The bundle file {name} is missing from {bundle_dir}. Restore the bundle folder or "
                          "re-export it.")
    link = f" (a symbolic link to {os.readlink(path)})" if path.is_symlink() and kind != "a symbolic link loop" else ""
    if kind is not None:
        raise BundleError(f"The bundle file {path} is {kind}{link}, not a regular file. Replace it with the "
                          f"bundle's own {name}.")
    resolved, root = path.resolve(), Path(bundle_dir).resolve()
    if not resolved.is_relative_to(root):
        raise BundleError(f"The bundle file {path} resolves to {resolved}, outside the bundle folder {root}. A "
                          f"bundle's files must be inside its folder: copy the real {name} into it.")
    return path


def check_bundle_folder(bundle_dir: Path) -> Path:
    """``bundle_dir`` if it is a folder; otherwise a ``BundleError`` saying what it is."""
    bundle_dir = Path(bundle_dir)
    kind = file_kind(bundle_dir)
    if kind == MISSING:
        raise BundleError(f"Bundle folder {bundle_dir} does not exist. Pass --bundle with a folder holding config.json.")
    if kind != "a folder":
        raise BundleError(f"The bundle {bundle_dir} is {kind or 'a file'}, not a folder. Pass --bundle with the "
                          "bundle's folder (it holds config.json).")
    return bundle_dir


def weight_files(config: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """``(file name, required)`` of every weights file the loader reads for a bundle config (a JSON object):
    the autoencoder and U-Net always; the others as its capabilities and network fields say."""
    capabilities = config.get("capabilities") or {}
    files = [(AUTOENCODER_FILE, True), (UNET_FILE, True)]
    if config.get("inpaint_unet") is not None:
        files.append((INPAINT_UNET_FILE, "inpaint_unet" in (capabilities.get("inpaint") or [])))
    if capabilities.get("controlnet"):
        files.append((CONTROLNET_FILE, True))
    if capabilities.get("structure_guidance"):
        files.append((STRUCTURE_REGRESSOR_FILE, True))
    return files


def weight_file_problems(bundle_dir: Path, config: Mapping[str, Any]) -> list[str]:
    """Why the weights files of a bundle cannot be loaded, from the files and their safetensors headers alone
    (missing, not regular, outside the folder, pickled, truncated); tensor shapes need the networks
    (``braingen3d.bundle.inspection``). Standard library only."""
    problems = []
    for name, required in weight_files(config):
        try:
            path = bundle_file(Path(bundle_dir), name, required=required)
            if path is not None:
                read_header(path)
        except BundleError as problem:
            problems.append(str(problem))
        except OSError as error:
            problems.append(f"{name} cannot be read ({error.strerror or error}).")
    return problems
