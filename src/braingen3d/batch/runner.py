"""Run a batch plan: generate each case, inpaint its lesions, write it into the nnU-Net dataset.

Per case: the lesion-free volume is generated from the case's prompt and seed; if the plan gives it
lesions, ellipsoids are placed in its white matter (``lesions.py``) and inpainted with the lesion
prompt; the inpainted volume and the lesion mask (label 1) are written with the case's provenance.
A case without lesions gets an all-zero label. Finished cases are never regenerated or rewritten,
so a rerun with ``resume`` continues where a stopped run ended.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InvalidInputError, OutputExistsError
from ..core.progress import CancelToken, EtaClock
from ..export import NnunetDatasetWriter
from ..export.nnunet_naming import conflicting_datasets, dataset_folder_name
from ..requests.inpaint import InpaintRequest
from .case_record import case_provenance
from .lesions import place_lesions
from .plan import BatchPlan, CaseSpec
from .sharding import Shard

logger = logging.getLogger(__name__)

PLACEMENT_STREAM, INPAINT_STREAM = 1, 2


@dataclass
class BatchEvent:
    """Progress of a batch on one rank.

    Args:
        phase: ``generate``, ``inpaint`` or ``written``.
        case_id: the case being made.
        case_number: its position among this rank's pending cases (1-based).
        cases_total: this rank's pending cases.
        units_done: model evaluations (and decodes) done on this rank so far.
        units_total: all that this rank's pending cases need.
        elapsed_seconds: time since the first case started.
        eta_seconds: estimated time to the end of this rank's cases.
    """

    phase: str
    case_id: str
    case_number: int
    cases_total: int
    units_done: int
    units_total: int
    elapsed_seconds: float
    eta_seconds: float | None


BatchCallback = Callable[[BatchEvent], None]


@dataclass
class BatchResult:
    """What one rank did: cases written now, cases already finished before, and the time taken."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def derived_seed(seed: int, stream: int) -> int:
    """A seed for one use of a case (lesion placement, inpainting) derived from the case seed."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(2, np.uint32).view(np.uint64)[0] >> 1)


def check_dataset_target(root: Path, dataset_id: int, name: str, mode: str) -> Path:
    """Fail fast, before any model loads, on a dataset the writer would refuse. Returns its folder.

    Single-process runs only: with several ranks, rank 0 may already be filling the folder.
    """
    folder = Path(root) / dataset_folder_name(dataset_id, name)
    conflicts = conflicting_datasets(Path(root), dataset_id, name)
    if conflicts:
        raise InvalidInputError(f"{root} already has dataset id {dataset_id} as {conflicts}; nnU-Net cannot have two "
                                "datasets with one id. Choose another --dataset-id or remove the other folder.")
    if mode == "new" and folder.is_dir() and any(folder.iterdir()):
        raise OutputExistsError(f"The dataset folder {folder} already exists and is not empty. Pass --resume to add the "
                                "missing cases (finished cases are kept), or --overwrite to replace it.")
    return folder


def check_plan_matches(writer: NnunetDatasetWriter, plan: BatchPlan) -> None:
    """Refuse to resume a dataset whose finished cases were made from a different plan.

    Raises:
        InvalidInputError: a finished case of the plan has a different digest (other prompt, seed,
            lesions, bundle or sampler settings) or no batch provenance.
    """
    finished = set(writer.finished_cases())
    for case in plan.cases:
        if case.case_id not in finished:
            continue
        path = writer.provenance_path(case.case_id)
        try:
            stored = json.loads(path.read_text(encoding="utf-8")).get("batch", {}).get("case_digest")
        except (OSError, ValueError):
            stored = None
        if stored != plan.digest(case):
            raise InvalidInputError(
                f"Cannot resume {writer.folder}: finished case {case.case_id} was made with different settings "
                f"(its provenance/{case.case_id}.json does not match this plan's prompt, seed, lesions, bundle or "
                "sampler settings). Rerun with the original arguments, use another --dataset-id, or --overwrite."
            )


class BatchRunner:
    """Makes the cases of a plan with one loaded pipeline.

    Args:
        plan: the batch plan.
        pipeline: a loaded ``BrainGenPipeline`` (its bundle must match ``plan.settings``).
    """

    def __init__(self, plan: BatchPlan, pipeline) -> None:
        config = pipeline.config
        if (config.bundle_id, config.version) != (plan.settings.bundle_id, plan.settings.bundle_version):
            raise InvalidInputError(f"The plan was made for bundle {plan.settings.bundle_id} {plan.settings.bundle_version} "
                                    f"but the pipeline holds {config.bundle_id} {config.version}.")
        self.plan = plan
        self.pipeline = pipeline
        self._inpainter = None

    @property
    def inpainter(self):
        if self._inpainter is None:
            from ..pipelines.inpaint import LesionInpainter

            self._inpainter = LesionInpainter(self.pipeline)
        return self._inpainter

    def units(self, case: CaseSpec) -> int:
        """Model evaluations and decodes a case needs (the progress bar's unit)."""
        s = self.plan.settings
        total = s.steps + 1
        if case.lesion_count:
            params = self.inpainter.resolve(InpaintRequest(case.lesion_prompt, steps=s.steps, method=s.inpaint_method,
                                                          seed=0))
            total += params.model_evaluations + 1
        return total

    def make_case(self, case: CaseSpec, dataset: str, shard: Shard, on_unit: Callable[[str], None] = lambda phase: None,
                  cancel: CancelToken | None = None, on_retry: Callable[[int], None] = lambda units: None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Generate (and inpaint) one case; returns ``(volume, affine, label, provenance)``.

        Args:
            case: the case.
            dataset: dataset folder name, for provenance.
            shard: this rank, for provenance.
            on_unit: called with the phase after every model evaluation or decode.
            cancel: checked before every evaluation.
            on_retry: called with the units one more inpainting sample costs, when the contrast check retries.
        """
        s = self.plan.settings
        output = self.pipeline(case.prompt, s.negative_prompt, s.steps, s.guidance_scale, s.sampler, case.seed, 1,
                               callback=lambda event: on_unit("generate"), cancel=cancel)
        volume = output.volumes[0]
        label = np.zeros(volume.array.shape, dtype=np.uint8)
        placed, inpaint_record, array = [], None, volume.array
        if case.lesion_count:
            label, placed = place_lesions(volume.array, volume.affine, s.modality, case.lesion_diameters_mm,
                                          np.random.default_rng(derived_seed(case.seed, PLACEMENT_STREAM)))
            if len(placed) < case.lesion_count:
                logger.warning("Case %s: placed %d of %d planned lesions (the brain is too small for the rest).",
                               case.case_id, len(placed), case.lesion_count)
        if placed:
            def on_inpaint(event) -> None:
                if event.volume > 1 and event.phase == "denoise" and event.step == 1:
                    on_retry(event.total + 1)  # the retry's evaluations and its decode
                on_unit("inpaint" if event.volume == 1 else f"inpaint, attempt {event.volume}")

            result = self.inpainter(volume.array, volume.affine, label, case.lesion_prompt,
                                    negative_prompt=s.inpaint_negative_prompt, num_inference_steps=s.steps,
                                    guidance_scale=s.inpaint_guidance_scale, sampler=s.sampler,
                                    seed=derived_seed(case.seed, INPAINT_STREAM), method=s.inpaint_method,
                                    blend_margin_mm=s.blend_margin_mm, callback=on_inpaint,
                                    cancel=cancel)
            array, label, inpaint_record = result.array, result.lesion_mask.astype(np.uint8), result.provenance
        record = case_provenance(self.plan, case, volume.provenance, placed, int(np.count_nonzero(label)),
                                 inpaint_record, dataset, shard)
        return array.astype(np.float32, copy=False), volume.affine, label, record

    def run(self, writer: NnunetDatasetWriter, shard: Shard | None = None, callback: BatchCallback | None = None,
            cancel: CancelToken | None = None) -> BatchResult:
        """Make and write this rank's unfinished cases, in plan order.

        Args:
            writer: the open dataset (``resume`` mode keeps finished cases).
            shard: which cases are this rank's (``index % world_size == rank``).
            callback: receives a ``BatchEvent`` after every unit of work.
            cancel: stops the run before the next model evaluation; finished cases stay.

        Raises:
            OSError: writing failed (e.g. a full disk). Finished cases remain a valid dataset; rerun with resume.
        """
        shard = shard or Shard()
        start = time.perf_counter()
        result = BatchResult()
        pending = []
        for case in shard.select(self.plan.cases):
            (result.skipped if writer.has_case(case.case_id) else pending).append(case)
        if result.skipped:
            logger.info("%s: %d case(s) already finished, %d to make.", shard.label(), len(result.skipped), len(pending))
        units = [self.units(case) for case in pending]
        clock = EtaClock(sum(units))
        for number, case in enumerate(pending, start=1):
            def on_unit(phase: str, _case: CaseSpec = case, _number: int = number) -> None:
                elapsed, eta = clock.tick()
                if callback is not None:
                    callback(BatchEvent(phase, _case.case_id, _number, len(pending), clock.done_units, clock.total_units,
                                        elapsed, eta))

            def on_retry(extra: int, _number: int = number) -> None:
                units[_number - 1] += extra
                clock.total_units += extra

            done_before = clock.done_units
            volume, affine, label, record = self.make_case(case, writer.folder.name, shard, on_unit, cancel, on_retry)
            clock.done_units = done_before + units[number - 1]  # keep the ETA exact if a phase reported fewer units
            if writer.write_case(case.case_id, volume, affine, label, record):
                result.written.append(case.case_id)
            else:  # another process finished it meanwhile (only possible if two runs share a dataset)
                result.skipped.append(case.case_id)
            elapsed, eta = clock.tick(0)
            logger.info("Case %s written (%d/%d on %s; %.0f s elapsed, about %.0f s left).", case.case_id, number,
                        len(pending), shard.label(), elapsed, eta or 0.0)
            if callback is not None:
                callback(BatchEvent("written", case.case_id, number, len(pending), clock.done_units, clock.total_units,
                                    elapsed, eta))
        result.seconds = time.perf_counter() - start
        return result
