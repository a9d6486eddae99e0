"""Export of a generated or inpainted volume (and its lesion segmentation) for segmentation workflows.

The panel writes the volume as it is in the scene, and the segmentation as a label map on the
volume's grid (every segment counts as lesion, label 1), into a temporary folder as NIfTI files
carrying the nodes' provenance. The engine's worker (``python -m braingen3d.worker``, as for generation and
inpainting) then runs its ``export`` task, which writes each chosen format in turn, so the GUI never loads
the engine (or torch) and stays responsive. Every exported file keeps the provenance and says it is synthetic.

Layout in the chosen folder, for a volume named ``<stem>``:

* NIfTI: ``nifti/<stem>.nii.gz`` + ``<stem>.json``; with a segmentation also
  ``nifti/<stem>_label.nii.gz`` + ``<stem>_label.json``;
* NRRD: ``nrrd/<stem>.nrrd`` + ``<stem>.json``; with a segmentation also the Slicer segmentation
  ``nrrd/<stem>_label.seg.nrrd``;
* DICOM: ``dicom/<stem>/image/`` (the MR series) and ``dicom/<stem>/segmentation.dcm`` (DICOM SEG).

Each format has its own folder because NIfTI and NRRD exports would otherwise share a sidecar name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .dependencies import InstallPlan, is_satisfied, plan_installation
from .i18n import _
from .lesion_mask import RegionError, segment_mask
from .logic import SettingsError, default_worker_command, worker_environment
from .nifti_files import file_stem, write_nifti
from .process import RunHandlers, RunOutcome, RunStatus
from .provenance import is_generated, node_provenance
from .volume_geometry import GeometryError, ijk_to_ras, voxels_ijk
from .worker_task import WorkerTask

logger = logging.getLogger(__name__)

FORMATS = ("nifti", "nrrd", "dicom")
MODALITIES = ("auto", "T1", "T2", "FLAIR", "PD")
DICOM_REQUIREMENTS = ("pydicom>=3.0", "highdicom>=0.23")
"""The engine's ``export`` extra minus SimpleITK (not needed to write DICOM); installed on first DICOM export."""
LABEL_SUFFIX = "_label"


@dataclass
class ExportSettings:
    """What to export and where.

    Attributes:
        folder: the output folder (created if missing).
        formats: any of ``nifti``, ``nrrd``, ``dicom``.
        modality: DICOM contrast, or ``auto`` (read from the provenance or the prompt).
        overwrite: replace existing files of the same name.
    """

    folder: str
    formats: list[str] = field(default_factory=lambda: ["nifti"])
    modality: str = "auto"
    overwrite: bool = False

    def validate(self) -> None:
        """Raise ``SettingsError`` naming the first unacceptable setting and the fix."""
        if not self.formats:
            raise SettingsError(_("Tick at least one format to export."))
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise SettingsError(_("Unknown export format {formats}; choose from {choices}.").format(
                formats=", ".join(unknown), choices=", ".join(FORMATS)))
        if self.modality not in MODALITIES:
            raise SettingsError(_("Unknown modality '{modality}'; choose {choices}.").format(
                modality=self.modality, choices=", ".join(MODALITIES)))
        folder = str(self.folder or "").strip()
        if folder in ("", "."):
            raise SettingsError(_("Choose the folder to export into."))
        if Path(folder).exists() and not Path(folder).is_dir():
            raise SettingsError(_("'{folder}' is a file; choose a folder to export into.").format(folder=folder))


def format_output(folder: Path, stem: str, export_format: str) -> Path:
    """The ``-o`` target of one format (a file, or a folder for DICOM)."""
    return {"nifti": folder / "nifti" / f"{stem}.nii.gz", "nrrd": folder / "nrrd" / f"{stem}.nrrd",
            "dicom": folder / "dicom" / stem}[export_format]


def planned_files(folder: Path, stem: str, export_format: str, with_label: bool) -> list[Path]:
    """Every file (or DICOM folder) one format will create, to refuse overwriting before anything runs."""
    output = format_output(folder, stem, export_format)
    if export_format == "dicom":
        return [output / "image"] + ([output / "segmentation.dcm"] if with_label else [])
    base = output.parent / stem
    files = [output, base.with_name(stem + ".json")]
    if with_label:
        label = base.with_name(stem + LABEL_SUFFIX)
        files += ([label.with_name(label.name + ".seg.nrrd")] if export_format == "nrrd"
                  else [label.with_name(label.name + ".nii.gz"), label.with_name(label.name + ".json")])
    return files


def export_dependency_plan(formats: list[str]) -> InstallPlan:
    """What must be installed before exporting ``formats`` (DICOM needs pydicom and highdicom)."""
    plan = plan_installation()
    if "dicom" in formats:
        plan.packages += [r for r in DICOM_REQUIREMENTS if not is_satisfied(r)]
    return plan


def label_from_segmentation(volume_node, segmentation_node) -> np.ndarray:
    """Every segment of ``segmentation_node`` on the volume's grid, as one uint8 label map (1 = lesion).

    Raises:
        SettingsError: the segmentation has no segments or cannot be resampled.
    """
    segmentation = segmentation_node.GetSegmentation()
    segment_ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    if not segment_ids:
        raise SettingsError(_("Segmentation '{name}' has no segments. Choose another, or none to export the volume "
                              "alone.").format(name=segmentation_node.GetName()))
    union = np.zeros(voxels_ijk(volume_node).shape, dtype=bool)
    for segment_id in segment_ids:
        union |= segment_mask(volume_node, segmentation_node, segment_id)
    return union.astype(np.uint8)


class ExportLogic(WorkerTask):
    """Exports volumes and lesion segmentations through the engine's worker, in a child process.

    Args:
        scene, runner, use_timer, work_root: see ``WorkerTask``.
        job_command: the worker command line (default: ``<Slicer Python> -m braingen3d.worker``); kept as
            ``worker_command``, like the other jobs'.
    """

    RUN_FOLDER_PREFIX = "export-"

    def __init__(self, scene=None, job_command=None, runner=None, use_timer: bool | None = None,
                 work_root=None) -> None:
        super().__init__(scene, job_command, runner, use_timer, work_root)

    def export(self, volume_node, segmentation_node, settings: ExportSettings,
               on_event: Callable[[dict[str, Any]], None] | None = None,
               on_finished: Callable[[RunOutcome], None] | None = None) -> None:
        """Start exporting; returns at once.

        Args:
            volume_node: a volume made by BrainGen3D (generated or inpainted).
            segmentation_node: its lesion segmentation, or None.
            settings: formats, folder, modality, overwrite.
            on_event: receives ``started``, ``log`` and ``progress`` events.
            on_finished: receives the ``RunOutcome``; on success ``outcome.result`` lists the written paths.

        Raises:
            SettingsError: a setting or node is unusable, or an output exists (nothing was started).
            RuntimeError: an export is already running.
        """
        settings.validate()
        if self.busy:
            raise RuntimeError(_("An export is already running; wait for it or cancel it first."))
        if volume_node is None or not is_generated(volume_node):
            raise SettingsError(_("Choose a volume made by BrainGen3D. Only synthetic volumes are exported, so that no "
                                  "real scan is ever labelled synthetic."))
        try:
            voxels, affine = voxels_ijk(volume_node), ijk_to_ras(volume_node)
            label = label_from_segmentation(volume_node, segmentation_node) if segmentation_node else None
        except (GeometryError, RegionError) as exc:
            raise SettingsError(str(exc)) from exc
        folder = Path(settings.folder).expanduser()
        stem = file_stem(volume_node.GetName())
        if not settings.overwrite:
            for export_format in settings.formats:
                existing = [p for p in planned_files(folder, stem, export_format, label is not None) if p.exists()]
                if existing:
                    raise SettingsError(_("{path} already exists. Tick 'Replace existing files', or choose another "
                                          "folder.").format(path=existing[0]))

        run_folder = self._new_run_folder()
        try:
            volume_path = write_nifti(run_folder / f"{stem}.nii", voxels, affine, node_provenance(volume_node))
            label_path = None
            if label is not None:
                label_record = node_provenance(segmentation_node) if is_generated(segmentation_node) else None
                label_path = write_nifti(run_folder / f"{stem}{LABEL_SUFFIX}.nii", label, affine, label_record)
        except Exception:
            self._remove_run_folder()
            raise
        from braingen3d.worker.protocol import ExportTask  # torch-free; installed before a run starts

        request = ExportTask(
            volume=str(volume_path), mask=str(label_path) if label_path else None,
            exports=[{"format": f, "output": str(format_output(folder, stem, f))} for f in settings.formats],
            modality=None if settings.modality == "auto" else settings.modality, overwrite=bool(settings.overwrite),
        ).to_json()
        logger.info("Exporting '%s' as %s into %s", volume_node.GetName(), ", ".join(settings.formats), folder)

        def finished(outcome: RunOutcome) -> None:
            self._remove_run_folder()
            if outcome.status == RunStatus.FAILED:
                logger.error("BrainGen3D export failed (%s): %s", outcome.error_kind, outcome.message)
            if on_finished is not None:
                on_finished(outcome)

        self.runner.start(self.worker_command or default_worker_command(), request,
                          RunHandlers(on_event=on_event, on_result=lambda outputs: [o["path"] for o in outputs],
                                      on_finished=finished),
                          env=worker_environment())
