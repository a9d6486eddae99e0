"""Provenance in the files Slicer writes for generated volumes.

Measured with slicer-core 5.13: ``vtkMRMLVolumeArchetypeStorageNode`` writes neither node attributes
nor custom NRRD key/value pairs (and does not read custom keys back into attributes). So after
Slicer has written a generated volume, ``ProvenanceFileKeeper`` adds the record to the file:

* NRRD: ``braingen3d_synthetic:=YES`` and ``braingen3d_provenance:=<JSON>`` header lines, the same
  keys the engine writes (``braingen3d.io.nrrd_io``); the header is rewritten, the data bytes are
  copied unchanged;
* NIfTI: ``descrip`` plus a JSON header extension (as the engine does) and a ``<name>.json`` sidecar.

Every rewrite goes to a temporary file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .provenance import is_generated, node_provenance

logger = logging.getLogger(__name__)

NRRD_SYNTHETIC_KEY = "braingen3d_synthetic"
NRRD_PROVENANCE_KEY = "braingen3d_provenance"
NIFTI_SUFFIXES = (".nii", ".nii.gz")
MAX_NRRD_HEADER_BYTES = 1 << 20


def _replace_atomically(path: Path, write, suffix: str = ".tmp") -> None:
    """Call ``write(tmp_path)`` on a temporary sibling of ``path`` (ending in ``suffix``), then move it
    over ``path``."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _split_nrrd(path: Path) -> tuple[list[bytes], int]:
    """The header lines of an attached-data NRRD and the byte offset where its data starts."""
    with open(path, "rb") as stream:
        head = stream.read(MAX_NRRD_HEADER_BYTES)
    if not head.startswith(b"NRRD000"):
        raise ValueError(f"{path} is not a NRRD file (no NRRD magic line).")
    end = head.find(b"\n\n")
    if end < 0:
        if head.endswith(b"\n") and len(head) < MAX_NRRD_HEADER_BYTES:  # detached header (.nhdr): all header
            return head.rstrip(b"\n").split(b"\n"), len(head)
        raise ValueError(f"{path}: the NRRD header has no terminating blank line.")
    return head[:end].split(b"\n"), end + 2


def stamp_nrrd(path: str | os.PathLike, provenance: dict[str, Any]) -> None:
    """Add (or replace) the BrainGen3D provenance keys in a NRRD header; the data is untouched.

    Args:
        path: a ``.nrrd`` (attached data) or ``.nhdr`` file.
        provenance: the record to store.
    """
    path = Path(path)
    lines, data_offset = _split_nrrd(path)
    kept = [line for line in lines if not line.startswith(b"braingen3d_")]
    record = json.dumps(provenance, sort_keys=True, ensure_ascii=True)
    kept += [f"{NRRD_SYNTHETIC_KEY}:=YES".encode("ascii"), f"{NRRD_PROVENANCE_KEY}:={record}".encode("ascii")]

    def write(tmp: Path) -> None:
        with open(path, "rb") as source, open(tmp, "wb") as target:
            target.write(b"\n".join(kept) + b"\n\n")
            source.seek(data_offset)
            shutil.copyfileobj(source, target)

    _replace_atomically(path, write)


def read_nrrd_provenance(path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance record in a NRRD header, or None if there is none."""
    lines, _ = _split_nrrd(Path(path))
    prefix = f"{NRRD_PROVENANCE_KEY}:=".encode("ascii")
    for line in lines:
        if line.startswith(prefix):
            return json.loads(line[len(prefix):].decode("ascii"))
    return None


def sidecar_path(path: str | os.PathLike) -> Path:
    """``<name>.json`` next to ``<name>.nii[.gz]``/``<name>.nrrd``."""
    path = Path(path)
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".json")


def write_sidecar(path: str | os.PathLike, provenance: dict[str, Any]) -> Path:
    """Write the provenance JSON sidecar of the data file ``path`` atomically."""
    target = sidecar_path(path)
    _replace_atomically(target, lambda tmp: tmp.write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n",
                                                           encoding="utf-8"))
    return target


def _is_provenance_extension(extension) -> bool:
    try:
        record = json.loads(extension.get_content())
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(record, dict) and record.get("generator") == "BrainGen3D"


def stamp_nifti(path: str | os.PathLike, provenance: dict[str, Any]) -> None:
    """Put provenance into a NIfTI file (``descrip`` and a JSON extension) and its JSON sidecar."""
    import nibabel as nib
    import numpy as np

    path = Path(path)
    image = nib.load(str(path))
    header = image.header.copy()
    description = f"SYNTHETIC BrainGen3D {provenance.get('bundle_id', '')} seed={provenance.get('seed', '')}"
    header["descrip"] = description.encode("ascii", "replace")[:79]
    header.extensions[:] = [ext for ext in header.extensions if not _is_provenance_extension(ext)]
    header.extensions.append(nib.nifti1.Nifti1Extension("comment", json.dumps(provenance, sort_keys=True).encode("utf-8")))
    stamped = nib.Nifti1Image(np.asanyarray(image.dataobj), image.affine, header)
    suffix = ".nii.gz" if path.name.lower().endswith(".gz") else ".nii"
    _replace_atomically(path, lambda tmp: nib.save(stamped, str(tmp)), suffix=suffix)
    write_sidecar(path, provenance)


def stamp_file(path: str | os.PathLike, provenance: dict[str, Any]) -> bool:
    """Stamp a data file by its extension; returns False for formats that carry no provenance."""
    lower = str(path).lower()
    if lower.endswith((".nrrd", ".nhdr")):
        stamp_nrrd(path, provenance)
        return True
    if lower.endswith(NIFTI_SUFFIXES):
        stamp_nifti(path, provenance)
        return True
    write_sidecar(path, provenance)
    return False


class ProvenanceFileKeeper:
    """Stamps provenance into every file Slicer writes for a generated volume.

    It observes each watched volume's storage node. A storage node reports ``TransferDone`` (a
    ModifiedEvent) at the end of every ``WriteData``; the file then gets the record unless it is the
    very file stamped last time (same path, size and modification time). Storage nodes that Slicer adds
    later (the Save dialog does) are picked up through the volume's reference events.
    """

    def __init__(self) -> None:
        self._volumes: dict[str, tuple[Any, list[int]]] = {}
        self._storage: dict[str, tuple[Any, int, Any]] = {}
        self._stamped: dict[str, tuple] = {}

    def watch(self, volume_node) -> None:
        """Keep provenance in the files of ``volume_node`` (a generated volume)."""
        if not is_generated(volume_node) or volume_node.GetID() in self._volumes:
            return
        tags = [volume_node.AddObserver(event, lambda caller, _event: self._sync_storage(caller))
                for event in (volume_node.ReferenceAddedEvent, volume_node.ReferenceModifiedEvent)]
        self._volumes[volume_node.GetID()] = (volume_node, tags)
        self._sync_storage(volume_node)

    def watch_scene(self, scene) -> None:
        """Watch every generated volume in ``scene`` (after a scene was loaded)."""
        volumes = scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
        for index in range(volumes.GetNumberOfItems()):
            self.watch(volumes.GetItemAsObject(index))

    def forget_all(self) -> None:
        """Remove every observer (scene close, module cleanup)."""
        for node, tags in self._volumes.values():
            for tag in tags:
                node.RemoveObserver(tag)
        for storage, tag, _volume in self._storage.values():
            storage.RemoveObserver(tag)
        self._volumes.clear()
        self._storage.clear()
        self._stamped.clear()

    def _sync_storage(self, volume_node) -> None:
        storage = volume_node.GetStorageNode()
        if storage is None or storage.GetID() in self._storage:
            return
        tag = storage.AddObserver("ModifiedEvent", lambda caller, _event: self._on_storage_modified(caller))
        self._storage[storage.GetID()] = (storage, tag, volume_node)

    def _on_storage_modified(self, storage) -> None:
        entry = self._storage.get(storage.GetID())
        if entry is None or storage.GetWriteState() != storage.TransferDone:
            return
        path = storage.GetFileName()
        if not path or not os.path.isfile(path) or self._stamped.get(storage.GetID()) == _signature(path):
            return
        try:
            stamp_file(path, node_provenance(entry[2]))
            self._stamped[storage.GetID()] = _signature(path)
            logger.info("BrainGen3D provenance written into %s", path)
        except Exception:  # noqa: BLE001 - a failed stamp must never break Slicer's save
            logger.exception("Could not write BrainGen3D provenance into %s", path)


def _signature(path: str) -> tuple:
    stat = os.stat(path)
    return (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
