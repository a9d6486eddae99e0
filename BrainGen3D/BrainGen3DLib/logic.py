"""Generation logic: panel settings → worker request → worker process → MRML nodes.

This class needs neither the Slicer application nor Qt: it runs against any MRML scene (slicer-core
in tests) and is polled either by a QTimer (in Slicer) or by ``wait`` (scripts, tests). The worker
command and the process class are injectable.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .bundle_card import BundleCardError, read_bundle_card
from .i18n import _
from .process import RunHandlers, RunOutcome, RunStatus, WorkerRunner
from .scene_import import ImportOptions, has_slicer_app, import_outputs
from .storage_provenance import ProvenanceFileKeeper
from .worker_task import WorkerTask

logger = logging.getLogger(__name__)

WORKER_MODULE = "braingen3d.worker"
SAMPLERS = ("dpm++", "ddim")
"""The samplers the panel offers: the deterministic ones of the engine's ``braingen3d.sampling.schedulers.SAMPLERS``."""
DEVICES = ("auto", "cpu", "cuda")
MAX_SEED = 2**63 - 1
MAX_STEPS = 1000


def explain_failure(kind: str | None, message: str) -> str:
    """The user-facing text for a failed run: what happened, what to do, and the worker's own words."""
    if kind == "out_of_memory":
        return _("Generation ran out of memory. Generate fewer volumes at once, choose the CPU if the GPU is small, "
                 "or close other programs.") + "\n" + _("Worker message: {message}").format(message=message)
    if kind == "bundle":
        return message + "\n" + _("Choose another bundle folder, or reinstall the engine to restore the default "
                                   "bundle.")
    return message


class SettingsError(ValueError):
    """A setting is not acceptable; the message names it and the fix."""


@dataclass
class GenerationSettings:
    """Everything one generation needs.

    Attributes:
        prompt: what to generate (English text).
        negative_prompt: what to steer away from.
        steps: sampler steps.
        guidance_scale: classifier-free guidance scale (1 = none).
        sampler: ``dpm++`` or ``ddim``.
        seed: seed of the first volume; volume ``k`` uses ``seed + k``.
        num_volumes: how many volumes to generate.
        device: ``auto``, ``cpu`` or ``cuda``.
        bundle_path: a bundle folder, or None for the engine's default bundle.
        show_in_3d: also show the result with volume rendering.
        structure_guidance: weight of the structure guidance that steers the ventricle volume to the
            prompt when the bundle offers it; None uses the bundle's default weight, 0 samples from the
            text model alone.
    """

    prompt: str
    negative_prompt: str = ""
    steps: int = 25
    guidance_scale: float = 3.0
    sampler: str = "dpm++"
    seed: int = 0
    num_volumes: int = 1
    device: str = "auto"
    bundle_path: str | None = None
    show_in_3d: bool = False
    structure_guidance: float | None = None

    def validate(self) -> None:
        """Raise ``SettingsError`` naming the first unacceptable setting and the fix."""
        if not self.prompt or not self.prompt.strip():
            raise SettingsError(_("The prompt is empty. Describe the brain to generate, or use the quick picks."))
        if not 1 <= int(self.steps) <= MAX_STEPS:
            raise SettingsError(_("Steps must be between 1 and {max}.").format(max=MAX_STEPS))
        if not float(self.guidance_scale) >= 0:
            raise SettingsError(_("Guidance must be 0 or more (1 means no guidance)."))
        if self.structure_guidance is not None and not float(self.structure_guidance) >= 0:
            raise SettingsError(_("Structure guidance must be 0 (off) or more, or the bundle's default."))
        if self.sampler not in SAMPLERS:
            raise SettingsError(_("Unknown sampler '{sampler}'; choose {choices}.").format(
                sampler=self.sampler, choices=", ".join(SAMPLERS)))
        if not 0 <= int(self.seed) <= MAX_SEED:
            raise SettingsError(_("The seed must be between 0 and 2^63-1."))
        if int(self.num_volumes) < 1:
            raise SettingsError(_("Generate at least one volume."))
        if self.device not in DEVICES:
            raise SettingsError(_("Unknown device '{device}'; choose auto, cpu or cuda.").format(device=self.device))
        if self.bundle_path is not None:
            try:
                read_bundle_card(self.bundle_path)
            except BundleCardError as exc:
                raise SettingsError(str(exc)) from exc

    def to_request(self, output_dir: str) -> dict[str, Any]:
        """The worker's ``generate`` request (``braingen3d.worker.protocol.GenerateTask``)."""
        from braingen3d.worker.protocol import GenerateTask  # torch-free; installed before a run starts

        return GenerateTask(
            output_dir=output_dir, prompt=self.prompt.strip(), negative_prompt=self.negative_prompt.strip(),
            steps=int(self.steps), guidance=float(self.guidance_scale), sampler=self.sampler, seed=int(self.seed),
            num_volumes=int(self.num_volumes),
            # None: the bundle's default weight; 0 turns structure guidance off.
            structure_guidance=None if self.structure_guidance is None else float(self.structure_guidance),
            bundle=self.bundle_path, device=self.device,
        ).to_json()


def worker_python() -> str:
    """The Python that runs the worker: Slicer's ``PythonSlicer`` in the application, else this one."""
    if has_slicer_app():
        return shutil.which("PythonSlicer") or sys.executable
    return sys.executable


def default_worker_command() -> list[str]:
    return [worker_python(), "-m", WORKER_MODULE]


def worker_environment() -> dict[str, str]:
    """The worker's environment: this one, unbuffered UTF-8 output, and no model downloads."""
    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1"})
    return env


class GenerationLogic(WorkerTask):
    """Runs generations in a worker process and imports their results into a scene.

    Args:
        scene: the MRML scene to import into (default: ``slicer.mrmlScene`` at generation time).
        worker_command: the worker command line (default: ``<Slicer Python> -m braingen3d.worker``).
        runner: the ``WorkerRunner`` (inject one with a stand-in process class in tests).
        use_timer: poll with a QTimer; default: when a Qt application exists.
        work_root: where per-run output folders are created (removed after each run).
    """

    def __init__(self, scene=None, worker_command: Sequence[str] | None = None, runner: WorkerRunner | None = None,
                 use_timer: bool | None = None, work_root: str | os.PathLike | None = None) -> None:
        super().__init__(scene, worker_command, runner, use_timer, work_root)
        self.file_keeper = ProvenanceFileKeeper()

    def generate(self, settings: GenerationSettings, on_event: Callable[[dict[str, Any]], None] | None = None,
                 on_finished: Callable[[RunOutcome], None] | None = None) -> None:
        """Start a generation; returns at once.

        Args:
            settings: what to generate.
            on_event: receives ``started``, ``log`` and ``progress`` events.
            on_finished: receives the ``RunOutcome``; on success ``outcome.result`` is the list of new
                volume nodes. Nothing is added to the scene unless the run succeeds.

        Raises:
            SettingsError: a setting is unacceptable (nothing was started).
            RuntimeError: a generation is already running.
        """
        settings.validate()
        if self.busy:
            raise RuntimeError(_("A generation is already running; wait for it or cancel it first."))
        self._new_run_folder()
        options = ImportOptions(show=True, show_in_3d=settings.show_in_3d, bundle_path=settings.bundle_path,
                                requested_device=settings.device)

        def on_result(outputs: list[dict[str, Any]]) -> list:
            nodes = import_outputs(self.scene, outputs, self._output_dir, options)
            for node in nodes:
                self.file_keeper.watch(node)
            return nodes

        def finished(outcome: RunOutcome) -> None:
            self._remove_run_folder()
            if outcome.status == RunStatus.FAILED:
                outcome.message = explain_failure(outcome.error_kind, outcome.message)
            if outcome.status == RunStatus.FAILED:
                logger.error("BrainGen3D generation failed (%s): %s", outcome.error_kind, outcome.message)
            if on_finished is not None:
                on_finished(outcome)

        command = self.worker_command or default_worker_command()
        logger.debug("BrainGen3D generation request to the worker: %s", " ".join(command))
        self.runner.start(command, settings.to_request(str(self._output_dir)),
                          RunHandlers(on_event=on_event, on_result=on_result, on_finished=finished),
                          env=worker_environment())
