"""A disk that fills up mid-batch: finished cases stay a valid nnU-Net dataset, and resume completes it."""

from __future__ import annotations

import errno
import json

import pytest

from braingen3d.export import NnunetDatasetWriter
from braingen3d.io import atomic as _atomic
from Testing.export.nnunet_cases import write_cases

pytestmark = pytest.mark.slow

SEEDS = range(5)


class FullDiskFile:
    """A file that accepts a few bytes and then fails like a full disk (ENOSPC)."""

    def __init__(self, handle, allowed_bytes: int = 100) -> None:
        self._handle = handle
        self._allowed = allowed_bytes

    def write(self, data) -> int:
        if len(data) > self._allowed:
            self._handle.write(data[: self._allowed])
            self._allowed = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._allowed -= len(data)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._handle.close()
        return False


def fill_disk_at(monkeypatch, victim_prefix: str) -> None:
    """Make the low-level temporary-file open return a full-disk file for names starting with ``victim_prefix``."""
    real_open = _atomic._open_temporary

    def open_temporary(path):
        handle = real_open(path)
        return FullDiskFile(handle) if path.name.startswith(victim_prefix) else handle

    monkeypatch.setattr(_atomic, "_open_temporary", open_temporary)


@pytest.mark.parametrize("victim", ["image", "label"])
def test_full_disk_mid_batch_then_resume(tmp_path, monkeypatch, provenance, victim):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    # The third case (synth_002) fails while its image (or its label) is being written.
    fill_disk_at(monkeypatch, ".synth_002_0000.nii.gz" if victim == "image" else ".synth_002.nii.gz")
    writer = NnunetDatasetWriter(tmp_path, 530, "FullDisk", modality="FLAIR")
    with pytest.raises(OSError) as failure:
        write_cases(writer, SEEDS, provenance)
    assert failure.value.errno == errno.ENOSPC
    assert any("--resume" in note for note in failure.value.__notes__)

    folder = writer.folder
    assert writer.finished_cases() == ["synth_000", "synth_001"]
    assert json.loads((folder / "dataset.json").read_text())["numTraining"] == 2
    assert not list(folder.rglob("*.partial")), "a failed write must remove its temporary file"
    if victim == "image":
        assert (folder / "labelsTr" / "synth_002.nii.gz").exists()  # orphan label: invisible to nnU-Net
    verify_dataset_integrity(str(folder), num_processes=1)

    # Space is freed; the batch is rerun in resume mode and completes.
    monkeypatch.undo()
    finished_before = {c: writer.image_path(c).stat().st_mtime_ns for c in writer.finished_cases()}
    resumed = NnunetDatasetWriter(tmp_path, 530, "FullDisk", modality="FLAIR", mode="resume")
    assert write_cases(resumed, SEEDS, provenance) == [False, False, True, True, True]
    assert resumed.finalise() == 5
    assert {c: resumed.image_path(c).stat().st_mtime_ns for c in finished_before} == finished_before
    verify_dataset_integrity(str(folder), num_processes=1)
    assert json.loads((folder / "dataset.json").read_text())["numTraining"] == 5
