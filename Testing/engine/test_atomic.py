"""Atomic writes: a failed write leaves the old output intact and no visible temporary file."""

from __future__ import annotations

import os

import pytest

from braingen3d.core.errors import OutputExistsError
from braingen3d.io import atomic as _atomic
from braingen3d.io.atomic import atomic_directory, atomic_output, atomic_write_bytes, remove_stale_partials


def test_failed_write_keeps_previous_file_and_cleans_up(tmp_path):
    target = tmp_path / "out.nii.gz"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target, overwrite=True) as handle:
            handle.write(b"half of the new data")
            raise RuntimeError("generator crashed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]


def test_existing_output_needs_overwrite(tmp_path):
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"1")
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        atomic_write_bytes(target, b"2")
    atomic_write_bytes(target, b"2", overwrite=True)
    assert target.read_bytes() == b"2"


def test_directory_replacement_is_all_or_nothing(tmp_path):
    folder = tmp_path / "series"
    with atomic_directory(folder) as staging:
        (staging / "a.dcm").write_bytes(b"a")
    with pytest.raises(RuntimeError):
        with atomic_directory(folder, overwrite=True) as staging:
            (staging / "b.dcm").write_bytes(b"b")
            raise RuntimeError("failed after one slice")
    assert [p.name for p in folder.iterdir()] == ["a.dcm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series"]
    with atomic_directory(folder, overwrite=True) as staging:
        (staging / "b.dcm").write_bytes(b"b")
    assert [p.name for p in folder.iterdir()] == ["b.dcm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series"]


def test_only_partials_of_dead_local_processes_are_removed(tmp_path):
    mine = _atomic.temporary_sibling(tmp_path / "alive.nii.gz")
    mine.write_bytes(b"in progress")
    dead_pid = 2**22 + 12345  # above the default pid_max, so no such process
    dead = tmp_path / f".dead.nii.gz.{_atomic._HOST}~{dead_pid}~0123abcd.partial"
    dead.write_bytes(b"left behind")
    other_host = tmp_path / f".remote.nii.gz.otherhost~{dead_pid}~0123abcd.partial"
    other_host.write_bytes(b"maybe still being written")
    assert remove_stale_partials(tmp_path) == 1
    assert mine.exists() and other_host.exists() and not dead.exists()
    assert os.getpid() == int(mine.name.split("~")[1])
