"""Stop a writer at its Nth commit (an atomic rename) and keep the files a kill at that instant leaves.

A real kill runs no cleanup handler, so the disk is copied at the commit itself (``before`` or ``after`` the
rename), and the writer is then stopped with :class:`Killed`. Temporary files in the copy are renamed as if their
process were dead, as they would be after a kill, so a rerun on the copy sees exactly what a rerun after a kill
would see.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from braingen3d.io import atomic

DEAD_PID = 2**22 + 4321  # above the default pid_max, so no such process


class Killed(BaseException):
    """The process died here (a BaseException, so the code under test cannot catch it as an error)."""


def _copy_as_after_a_kill(folder: Path, disk: Path) -> None:
    shutil.copytree(folder, disk)
    for path in sorted(disk.rglob("*"), reverse=True):
        match = atomic._PARTIAL_NAME.fullmatch(path.name)
        if match and int(match["pid"]) == os.getpid():
            path.rename(path.with_name(path.name.replace(f"~{os.getpid()}~", f"~{DEAD_PID}~")))


def count_commits(monkeypatch, action: Callable[[], object]) -> int:
    """How many commits ``action`` makes."""
    renames = []
    real = atomic._commit
    monkeypatch.setattr(atomic, "_commit", lambda src, dst: (renames.append(dst), real(src, dst)))
    action()
    monkeypatch.setattr(atomic, "_commit", real)
    return len(renames)


def kill_at_commit(monkeypatch, action: Callable[[], object], n: int, when: str, folder: Path, disk: Path) -> list[Path]:
    """Run ``action`` and stop it at its ``n``-th commit (1-based), ``before`` or ``after`` the rename.

    Args:
        monkeypatch: pytest's monkeypatch.
        action: the writing to interrupt.
        n: which commit.
        when: ``"before"`` or ``"after"`` the rename of that commit.
        folder: the output folder (copied whole).
        disk: where the copy goes (must not exist); it is what a kill at that instant leaves in ``folder``.

    Returns:
        the final names of the commits made before the kill (the ``n``-th included when ``after``).
    """
    assert when in ("before", "after")
    done: list[Path] = []
    real = atomic._commit

    def commit(temporary: Path, path: Path) -> None:
        if len(done) + 1 == n:
            if when == "after":
                real(temporary, path)
                done.append(Path(path))
            _copy_as_after_a_kill(folder, disk)
            raise Killed(f"killed {when} commit {n} ({Path(path).name})")
        real(temporary, path)
        done.append(Path(path))

    monkeypatch.setattr(atomic, "_commit", commit)
    try:
        action()
    except Killed:
        pass
    else:
        raise AssertionError(f"the action made fewer than {n} commits")
    finally:
        monkeypatch.setattr(atomic, "_commit", real)
    return done
