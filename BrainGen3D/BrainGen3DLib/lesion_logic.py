"""Lesion inpainting: a volume in the scene + a lesion region + a prompt → worker process → new nodes.

The volume (generated, or any scan loaded in Slicer, in any orientation and spacing) and the mask of
the region are written as NIfTI files on the volume's own grid (its IJK-to-RAS matrix as the affine).
The worker's ``inpaint`` task (docs/architecture.md) regenerates the masked region and writes the new
volume and the lesion mask on the same grid; they are imported as a new volume and a new segmentation
(``lesion_import``). The source volume is never modified, and nothing is added unless the run succeeds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from .bundle_card import BundleCardError, default_bundle_folder, read_bundle_card
from .i18n import _
from .lesion_import import InpaintNodes, import_inpaint_outputs
from .lesion_mask import LesionRegion
from .logic import (
    DEVICES,
    MAX_SEED,
    MAX_STEPS,
    SAMPLERS,
    SettingsError,
    default_worker_command,
    explain_failure,
    worker_environment,
)
from .nifti_files import file_stem, write_nifti
from .process import RunHandlers, RunOutcome, RunStatus
from .provenance import is_generated, node_provenance
from .scene_import import ImportOptions
from .storage_provenance import ProvenanceFileKeeper
from .volume_geometry import GeometryError, ijk_to_ras, voxels_ijk
from .worker_task import WorkerTask

logger = logging.getLogger(__name__)

METHODS = ("auto", "repaint", "inpaint_unet")
MAX_BLEND_MARGIN_MM = 20.0
DEFAULT_ATTEMPTS, MAX_ATTEMPTS = 3, 10  # the engine's contrast-check retries (braingen3d.pipelines.inpaint.contrast_check)
LESION_PROMPT_PRESETS = (
    "a 15 mm white-matter hyperintensity",
    "multiple small periventricular lesions",
    "a 10 mm lacunar lesion in the deep white matter",
    "confluent periventricular white-matter hyperintensities",
)


@dataclass
class InpaintSettings:
    """Everything one inpainting needs besides the volume and the region.

    Attributes:
        prompt: the lesion to paint, e.g. "a 15 mm white-matter hyperintensity".
        negative_prompt: what to steer away from.
        steps: sampler steps.
        guidance_scale: classifier-free guidance scale (1 = none), or None for the bundle's inpainting default.
        sampler: ``dpm++`` or ``ddim``.
        seed: the seed.
        device: ``auto``, ``cpu`` or ``cuda``.
        bundle_path: a bundle folder, or None for the engine's default bundle.
        method: ``auto``, ``repaint`` or ``inpaint_unet`` (what the bundle offers).
        blend_margin_mm: width of the band around the mask where new and old voxels are feathered.
        attempts: when the prompt names a contrast ("hyperintensity") and a sample misses it, the next
            seed is tried, up to this many samples (1 keeps the first sample).
    """

    prompt: str
    negative_prompt: str = ""
    steps: int = 25
    guidance_scale: float | None = None
    sampler: str = "dpm++"
    seed: int = 0
    device: str = "auto"
    bundle_path: str | None = None
    method: str = "auto"
    blend_margin_mm: float = 2.0
    attempts: int = DEFAULT_ATTEMPTS

    def validate(self) -> None:
        """Raise ``SettingsError`` naming the first unacceptable setting and the fix."""
        if not self.prompt or not self.prompt.strip():
            raise SettingsError(_("The lesion prompt is empty. Pick a preset or describe the lesion, e.g. "
                                  "'a 15 mm white-matter hyperintensity'."))
        if not 1 <= int(self.steps) <= MAX_STEPS:
            raise SettingsError(_("Steps must be between 1 and {max}.").format(max=MAX_STEPS))
        if self.guidance_scale is not None and not float(self.guidance_scale) >= 0:
            raise SettingsError(_("Guidance must be 0 or more (1 means no guidance)."))
        if self.sampler not in SAMPLERS:
            raise SettingsError(_("Unknown sampler '{sampler}'; choose {choices}.").format(
                sampler=self.sampler, choices=", ".join(SAMPLERS)))
        if not 0 <= int(self.seed) <= MAX_SEED:
            raise SettingsError(_("The seed must be between 0 and 2^63-1."))
        if self.device not in DEVICES:
            raise SettingsError(_("Unknown device '{device}'; choose auto, cpu or cuda.").format(device=self.device))
        if self.method not in METHODS:
            raise SettingsError(_("Unknown inpainting method '{method}'; choose {choices}.").format(
                method=self.method, choices=", ".join(METHODS)))
        if not 0.0 <= float(self.blend_margin_mm) <= MAX_BLEND_MARGIN_MM:
            raise SettingsError(_("The blend margin must be 0 to {max:g} mm.").format(max=MAX_BLEND_MARGIN_MM))
        if not 1 <= int(self.attempts) <= MAX_ATTEMPTS:
            raise SettingsError(_("Attempts must be 1 to {max} (1 keeps the first sample whatever its contrast).").format(
                max=MAX_ATTEMPTS))
        self._check_bundle()

    def _check_bundle(self) -> None:
        """Refuse a bundle whose config declares no (or not the chosen) inpainting method."""
        folder = self.bundle_path if self.bundle_path is not None else default_bundle_folder()
        if folder is None:
            return  # the worker reports a missing default bundle with its own message
        try:
            card = read_bundle_card(folder)
        except BundleCardError as exc:
            raise SettingsError(str(exc)) from exc
        offered = [m for m in card.capabilities.get("inpaint", []) if m in METHODS]
        if not offered:
            raise SettingsError(_("The bundle '{bundle}' cannot inpaint (its config lists no inpainting method). "
                                  "Choose a bundle that offers 'repaint' or 'inpaint_unet'.").format(
                bundle=card.bundle_id))
        if self.method != "auto" and self.method not in offered:
            raise SettingsError(_("The bundle '{bundle}' does not offer the method '{method}'; it offers {offered}. "
                                  "Choose 'auto'.").format(bundle=card.bundle_id, method=self.method,
                                                          offered=", ".join(offered)))

    def to_request(self, volume_path: str, mask_path: str, output_dir: str) -> dict[str, Any]:
        """The worker's ``inpaint`` request (``braingen3d.worker.protocol.InpaintTask``)."""
        from braingen3d.worker.protocol import InpaintTask  # torch-free; installed before a run starts

        return InpaintTask(
            output_dir=output_dir, volume=volume_path, mask=mask_path, prompt=self.prompt.strip(),
            negative_prompt=self.negative_prompt.strip(), steps=int(self.steps),
            guidance=None if self.guidance_scale is None else float(self.guidance_scale), sampler=self.sampler,
            seed=int(self.seed), method=self.method, blend_margin_mm=float(self.blend_margin_mm),
            attempts=int(self.attempts), bundle=self.bundle_path, device=self.device,
        ).to_json()


class LesionInpaintLogic(WorkerTask):
    """Runs lesion inpainting in a worker process and imports the result as new nodes.

    Args:
        scene, worker_command, runner, use_timer, work_root: see ``WorkerTask``; the default command is
            ``<Slicer Python> -m braingen3d.worker``.
        file_keeper: keeps provenance in the files Slicer later writes for the new nodes (the module
            shares one with the generation logic).
    """

    RUN_FOLDER_PREFIX = "inpaint-"

    def __init__(self, scene=None, worker_command=None, runner=None, use_timer: bool | None = None,
                 work_root=None, file_keeper: ProvenanceFileKeeper | None = None) -> None:
        super().__init__(scene, worker_command, runner, use_timer, work_root)
        self.file_keeper = file_keeper or ProvenanceFileKeeper()

    def inpaint(self, volume_node, region: LesionRegion, settings: InpaintSettings,
                on_event: Callable[[dict[str, Any]], None] | None = None,
                on_finished: Callable[[RunOutcome], None] | None = None) -> None:
        """Start inpainting; returns at once.

        Args:
            volume_node: the scalar volume to put the lesion in (kept unchanged).
            region: the ROI box or segment that says where.
            settings: prompt and sampling settings.
            on_event: receives ``started``, ``log`` and ``progress`` events.
            on_finished: receives the ``RunOutcome``; on success ``outcome.result`` is an ``InpaintNodes``.

        Raises:
            SettingsError: a setting, the volume or the region is unusable (nothing was started).
            RuntimeError: an inpainting is already running.
        """
        settings.validate()
        if self.busy:
            raise RuntimeError(_("An inpainting is already running; wait for it or cancel it first."))
        if volume_node is None or not volume_node.IsA("vtkMRMLScalarVolumeNode") or volume_node.IsA(
                "vtkMRMLLabelMapVolumeNode"):
            raise SettingsError(_("Choose the volume to put the lesion in (a scalar volume, not a label map)."))
        try:
            voxels, affine = voxels_ijk(volume_node), ijk_to_ras(volume_node)
        except GeometryError as exc:
            raise SettingsError(str(exc)) from exc
        mask = region.mask(volume_node)
        folder = self._new_run_folder()
        try:
            (folder / "input").mkdir()
            stem = file_stem(volume_node.GetName())
            volume_path = write_nifti(folder / "input" / f"{stem}.nii", voxels, affine)
            mask_path = write_nifti(folder / "input" / f"{stem}_lesion_region.nii", mask.astype("uint8"), affine)
        except Exception:
            self._remove_run_folder()
            raise
        output_dir = folder / "output"
        options = ImportOptions(show=True, bundle_path=settings.bundle_path, requested_device=settings.device)
        source_record = node_provenance(volume_node) if is_generated(volume_node) else None
        logger.info("Inpainting '%s' in %s (%d voxels): %s", volume_node.GetName(), region.describe(),
                    int(mask.sum()), settings.prompt)

        def on_result(outputs: list[dict[str, Any]]) -> InpaintNodes:
            if not self.scene.IsNodePresent(volume_node):
                raise ValueError(_("'{name}' was removed from the scene while inpainting; the result was not "
                                   "added.").format(name=volume_node.GetName()))
            nodes = import_inpaint_outputs(self.scene, outputs, output_dir, volume_node, options, source_record)
            for node in (nodes.volume, nodes.segmentation):
                self.file_keeper.watch(node)
            return nodes

        def finished(outcome: RunOutcome) -> None:
            self._remove_run_folder()
            if outcome.status == RunStatus.FAILED:
                outcome.message = explain_failure(outcome.error_kind, outcome.message)
                logger.error("BrainGen3D inpainting failed (%s): %s", outcome.error_kind, outcome.message)
            if on_finished is not None:
                on_finished(outcome)

        command = self.worker_command or default_worker_command()
        self.runner.start(command, settings.to_request(str(volume_path), str(mask_path), str(output_dir)),
                          RunHandlers(on_event=on_event, on_result=on_result, on_finished=finished),
                          env=worker_environment())
