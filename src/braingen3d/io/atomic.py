"""Atomic file and folder writes for every output of the engine and the exporters.

A reader (nnU-Net, Slicer, a PACS import) must never see a half-written output, and a failed write
(full disk, crash, Ctrl-C) must never leave a file that looks finished. Every output is written to a
temporary name in the same folder, flushed to disk, and then moved into place with ``os.replace``.

Temporary names start with a dot and end in ``.partial``, so they never match a file ending a
reader looks for (``.nii.gz``, ``.nrrd``, ``.dcm``): an interrupted batch leaves nothing that
nnU-Net or a DICOM importer would pick up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..core.errors import InvalidInputError, OutputExistsError

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_PARTIAL_NAME = re.compile(r"\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)~(?P<pid>\d+)~[0-9a-f]{8}" + re.escape(PARTIAL_SUFFIX))


def _commit(temporary: Path, path: Path) -> None:
    """Move a finished temporary onto its final name. Every rename of this module goes through here, so a test
    can stop the process at any commit."""
    os.replace(temporary, path)


def temporary_sibling(path: Path) -> Path:
    """A unique hidden name next to ``path`` that no reader mistakes for a finished output.

    The name records host and process id so that leftovers of a dead process can be recognised.
    """
    return path.with_name(f".{path.name}.{_HOST}~{os.getpid()}~{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else, or the platform cannot tell
        return True
    return True


def remove_stale_partials(folder: Path, names: Iterable[str] | None = None) -> int:
    """Delete temporary files in ``folder`` left by dead processes of this host; return how many.

    Args:
        folder: where to look.
        names: only the temporaries of these final file names (e.g. ``["brain.nii.gz", "brain.json"]``);
            all of them if None.

    Leftovers of other hosts (a shared file system) or of running processes are never touched,
    because a writer there may still be about to move its file into place.
    """
    removed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    wanted = None if names is None else set(names)
    for child in folder.iterdir():
        match = _PARTIAL_NAME.fullmatch(child.name)
        if (match and match["host"] == _HOST and (wanted is None or match["name"] in wanted)
                and not _process_alive(int(match["pid"]))):
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    child.unlink()
            removed += 1
    return removed


def _open_temporary(path: Path) -> BinaryIO:
    """Open the temporary file for writing. Kept separate so tests can simulate a full disk."""
    return open(path, "xb")


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable. Not every platform can open a directory; that is not an error."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def refuse_existing(path: Path, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` if ``path`` exists and ``overwrite`` is false."""
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists. Choose another output path or pass overwrite=True.")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[BinaryIO]:
    """Open ``path`` for binary writing so that it appears complete or not at all.

    Args:
        path: the final file name. Its folder must exist.
        overwrite: replace an existing file; otherwise an existing file raises
            :class:`~braingen3d.core.errors.OutputExistsError` before anything is written.

    Yields:
        a binary file object writing to a temporary sibling of ``path``. When the ``with`` block
        ends without an exception, the data is flushed, fsynced and moved onto ``path``. On any
        exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    refuse_existing(path, overwrite)
    temporary = temporary_sibling(path)
    handle = _open_temporary(temporary)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _commit(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, overwrite=overwrite) as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, overwrite: bool = False) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_output`)."""
    atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


@contextlib.contextmanager
def removed_on_failure() -> Iterator[list[Path]]:
    """A list to append each written file to; if the block raises, every file in it is removed.

    For outputs made of several files (image, sidecar, preview) that must appear together or not at all.
    """
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for done in written:
            with contextlib.suppress(FileNotFoundError):
                Path(done).unlink()
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name and move it into place when complete.

    Args:
        path: the final folder. Its parent must exist.
        overwrite: replace an existing folder. The old folder is moved aside first and deleted only
            after the new one is in place, so a failure never loses the old output.

    Yields:
        the temporary folder to fill. On any exception it is deleted and ``path`` is untouched.
    """
    path = Path(path)
    refuse_existing(path, overwrite)
    temporary = temporary_sibling(path)
    temporary.mkdir()
    retired = None
    try:
        yield temporary
        for child in temporary.iterdir():
            with open(child, "rb+") as handle:
                os.fsync(handle.fileno())
        if path.exists():
            retired = temporary_sibling(path)
            _commit(path, retired)
        _commit(temporary, path)
    except BaseException:
        if retired is not None and not path.exists():
            _commit(retired, path)  # put the old output back
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _fsync_directory(path.parent)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
        logger.info("Replaced existing folder %s", path)


def check_writable(path: Path, overwrite: bool) -> None:
    """Fail early, before any work, if ``path`` cannot be written."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise InvalidInputError(f"{path} is a folder; give a file name such as {path / 'brain.nii.gz'}.")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists. Pass --overwrite to replace it, or choose another output path.")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InvalidInputError(f"{parent} is a file, not a folder, so {path.name} cannot be written into it. "
                                "Choose an output path inside a folder.")
    if not parent.is_dir():
        raise InvalidInputError(f"The output folder {parent} does not exist. Create it first or choose another path.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInputError(f"The output folder {parent} is not writable. Choose a folder you can write to.")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path for libraries that write by file name; move it onto ``path`` on success.

    The temporary name ends in ``.partial`` (see :func:`temporary_sibling`), so a writer that picks
    the format from the extension must be told the format explicitly.
    """
    path = Path(path)
    refuse_existing(path, overwrite)
    temporary = temporary_sibling(path)
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        _commit(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)
