"""What every background job of the module shares: a scene to import into, a process runner, a run folder.

Generation, lesion inpainting and export each run one request at a time through a ``WorkerRunner``
(``process.py``) on the shared warm engine worker (``warm_worker.py``), and import or report its result
on the GUI thread. This base class holds the parts they share: the scene (``slicer.mrmlScene`` unless one is injected), the runner
(polled by a QTimer in Slicer, by ``wait`` in scripts and tests), and a per-run temporary folder that
is removed when the run ends, whatever the outcome.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Sequence

from .process import ProcessState, RunOutcome, WorkerRunner, qt_timer_factory
from .scene_import import has_slicer_app
from .warm_worker import worker_process

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 1.0


def default_work_root() -> Path:
    """Where run folders are made: Slicer's temporary folder in the application, else the system's."""
    if has_slicer_app():
        import slicer

        return Path(slicer.app.temporaryPath) / "BrainGen3D"
    return Path(tempfile.gettempdir()) / "BrainGen3D"


def qt_app_exists() -> bool:
    """Whether a Qt application runs (then a QTimer can poll the runner)."""
    try:
        import qt
    except ImportError:
        return False
    return qt.QCoreApplication.instance() is not None


class WorkerTask:
    """Base of the module's background jobs.

    Args:
        scene: the MRML scene to import into (default: ``slicer.mrmlScene`` at run time).
        worker_command: the child's command line (each subclass has its default).
        runner: the ``WorkerRunner`` (inject one with a stand-in process class in tests).
        use_timer: poll with a QTimer; default: when a Qt application exists.
        work_root: where per-run folders are created (each is removed after its run).
    """

    RUN_FOLDER_PREFIX = "run-"

    def __init__(self, scene=None, worker_command: Sequence[str] | None = None, runner: WorkerRunner | None = None,
                 use_timer: bool | None = None, work_root: str | os.PathLike | None = None) -> None:
        self._scene = scene
        self.worker_command = list(worker_command) if worker_command else None
        if runner is None:
            timed = use_timer if use_timer is not None else qt_app_exists()
            runner = WorkerRunner(process_factory=worker_process, timer_factory=qt_timer_factory if timed else None)
        self.runner = runner
        self.work_root = Path(work_root) if work_root else None
        self._output_dir: Path | None = None

    @property
    def scene(self):
        if self._scene is not None:
            return self._scene
        import slicer

        return slicer.mrmlScene

    @property
    def state(self) -> ProcessState:
        return self.runner.state

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def cancel(self) -> None:
        """Stop the running job and its whole process tree (within about 2 s); nothing is imported."""
        self.runner.cancel()
        # The process is gone; handle its exit event now so that the state is Idle on return.
        deadline = time.monotonic() + CANCEL_POLL_SECONDS
        while self.runner.busy and time.monotonic() < deadline:
            self.runner.poll()
            if self.runner.busy:
                time.sleep(0.02)

    def poll(self) -> None:
        self.runner.poll()

    def wait(self, timeout: float = 600.0) -> RunOutcome:
        """Block until the job ends (scripts and tests; the GUI uses its timer)."""
        return self.runner.wait(timeout)

    def _new_run_folder(self) -> Path:
        """A fresh folder for this run's files; ``_remove_run_folder`` deletes it."""
        root = self.work_root or default_work_root()
        root.mkdir(parents=True, exist_ok=True)
        self._output_dir = Path(tempfile.mkdtemp(prefix=self.RUN_FOLDER_PREFIX, dir=root))
        return self._output_dir

    def _remove_run_folder(self) -> None:
        if self._output_dir is not None:
            shutil.rmtree(self._output_dir, ignore_errors=True)
            self._output_dir = None
