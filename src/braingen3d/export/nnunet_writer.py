"""nnU-Net v2 raw datasets of synthetic cases, written so that an interrupted batch can resume.

Layout (``root`` is the ``nnUNet_raw`` folder)::

    root/Dataset501_SynthLesions/
        dataset.json
        imagesTr/<case>_0000.nii.gz      float32 image, descrip "SYNTHETIC ..."
        labelsTr/<case>.nii.gz           uint8 labels, same affine
        provenance/<case>.json           full generation record of the case

When is a case finished? Its label, then its provenance, then its image are written, each through a
temporary name and an atomic rename; a case whose image and label are both there is finished. nnU-Net
finds the cases through the ``"dataset"`` list in ``dataset.json`` (image and label paths of each case,
relative to the dataset folder), and checks that ``numTraining`` equals the number of cases it finds.
Both live in the one file, so the rewrite of ``dataset.json`` after the image rename is the commit
point of a case: at every instant, also after a kill, ``dataset.json`` lists exactly cases whose files
are all there, and nnU-Net's ``verify_dataset_integrity`` passes. A run killed half-way leaves at most
the files of a case not yet listed, an orphan label and hidden ``.partial`` files, all invisible to
nnU-Net; ``resume`` lists the complete case and rewrites the rest.

``dataset.json`` is derived from the files present (the cases with image and label), rewritten
atomically after every case, when a writer opens the dataset and in
:meth:`NnunetDatasetWriter.finalise`, under a file lock. That makes K processes writing *different*
cases into one dataset safe: whoever updates the index last has seen every case committed before it.
One dataset holds one channel (the engine generates one contrast per volume).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import __version__ as ENGINE_VERSION
from ..core.errors import InvalidInputError, OutputExistsError
from ..io.atomic import atomic_write_bytes, atomic_write_text, remove_stale_partials
from ..io.nifti import NIFTI_XFORM_SCANNER, make_nifti, nifti_bytes
from ..prompts.vocabulary import MODALITIES
from ._lock import file_lock
from .nnunet_naming import check_case_id, conflicting_datasets, dataset_folder_name
from .provenance import nifti_descrip, normalise_provenance, sidecar_text
from .validation import check_affine, check_label, check_volume

logger = logging.getLogger(__name__)

Mode = Literal["new", "resume", "overwrite"]
FILE_ENDING = ".nii.gz"
DEFAULT_LABELS: Mapping[str, int] = {"background": 0, "lesion": 1}
DEFAULT_LICENCE = "Synthetic data generated with BrainGen3D; see the bundle's licence and model card for terms of use."
_OWNED = ("imagesTr", "labelsTr", "provenance", "dataset.json")
_LOCK_NAME = ".braingen3d.lock"
_CHANNEL_SUFFIX = "_0000" + FILE_ENDING


def _check_labels(labels: Mapping[str, int]) -> dict[str, int]:
    """nnU-Net's rules: ``background`` is 0 and the values are consecutive 0..N."""
    labels = {str(k): int(v) for k, v in labels.items()}
    if labels.get("background") != 0:
        raise InvalidInputError(f"labels must map 'background' to 0, got {labels}.")
    values = sorted(labels.values())
    if values != list(range(len(values))):
        raise InvalidInputError(f"nnU-Net needs consecutive label values 0..N, got {values} in {labels}.")
    return labels


class NnunetDatasetWriter:
    """Write synthetic image/label pairs as an nnU-Net v2 raw dataset, one finished case at a time.

    Args:
        root: the ``nnUNet_raw`` folder; the dataset folder ``Dataset%03d_<name>`` is created in it.
        dataset_id: nnU-Net dataset id, 1..999.
        name: dataset name (letters, digits, ``_``, ``-``).
        modality: the contrast of the images: ``T1``, ``T2``, ``FLAIR`` or ``PD`` (channel 0).
        mode: ``"new"`` refuses an existing non-empty dataset folder; ``"resume"`` keeps finished
            cases and adds new ones (the dataset's channel and labels must match); ``"overwrite"``
            deletes the dataset's own files (``imagesTr``, ``labelsTr``, ``provenance``,
            ``dataset.json``, never anything else) and starts again.
        labels: nnU-Net label names to values (``background`` must be 0, values consecutive).
        description: free text for ``dataset.json``; it always states that the data is synthetic.
        licence: terms of use written to ``dataset.json``.

    In a multi-process batch, let one process create the dataset (``new`` or ``overwrite``), wait for
    it, then open the same dataset with ``resume`` in every other process and give each process
    different case ids. Call :meth:`finalise` once, after all processes are done.
    """

    def __init__(
        self,
        root: str | Path,
        dataset_id: int,
        name: str,
        modality: str = "T1",
        mode: Mode = "new",
        labels: Mapping[str, int] = DEFAULT_LABELS,
        description: str | None = None,
        licence: str = DEFAULT_LICENCE,
    ) -> None:
        if mode not in ("new", "resume", "overwrite"):
            raise InvalidInputError(f"mode must be 'new', 'resume' or 'overwrite', got {mode!r}.")
        if modality not in MODALITIES:
            raise InvalidInputError(f"modality {modality!r} is not one of {list(MODALITIES)}.")
        self.root = Path(root)
        self.folder = self.root / dataset_folder_name(dataset_id, name)
        self.dataset_id = dataset_id
        self.name = name
        self.modality = modality
        self.mode: Mode = mode
        self.labels = _check_labels(labels)
        self.description = description
        self.licence = licence
        self._written_this_session: set[str] = set()

        conflicts = conflicting_datasets(self.root, dataset_id, name)
        if conflicts:
            raise InvalidInputError(
                f"{self.root} already has dataset id {dataset_id} as {conflicts}; nnU-Net cannot have two datasets "
                "with one id. Choose another id or remove the other folder."
            )
        self._open()

    # -- layout -------------------------------------------------------------------------------
    @property
    def images_dir(self) -> Path:
        return self.folder / "imagesTr"

    @property
    def labels_dir(self) -> Path:
        return self.folder / "labelsTr"

    @property
    def provenance_dir(self) -> Path:
        return self.folder / "provenance"

    def image_path(self, case_id: str) -> Path:
        return self.images_dir / f"{case_id}{_CHANNEL_SUFFIX}"

    def label_path(self, case_id: str) -> Path:
        return self.labels_dir / f"{case_id}{FILE_ENDING}"

    def provenance_path(self, case_id: str) -> Path:
        return self.provenance_dir / f"{case_id}.json"

    # -- opening ------------------------------------------------------------------------------
    def _open(self) -> None:
        exists_non_empty = self.folder.is_dir() and any(self.folder.iterdir())
        if self.mode == "new" and exists_non_empty:
            raise OutputExistsError(
                f"nnU-Net dataset folder {self.folder} already exists and is not empty. Pass --resume (mode='resume') "
                "to add the missing cases, or --overwrite (mode='overwrite') to replace it."
            )
        if self.mode == "overwrite" and self.folder.is_dir():
            for entry in _OWNED:
                target = self.folder / entry
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
            logger.info("Removed the previous dataset files in %s", self.folder)
        if self.mode == "resume" and (self.folder / "dataset.json").is_file():
            self._check_compatible(json.loads((self.folder / "dataset.json").read_text(encoding="utf-8")))
        for folder in (self.images_dir, self.labels_dir, self.provenance_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if self.mode == "resume":
            logger.info("Resuming %s with %d finished cases", self.folder, len(self.finished_cases()))
        self._update_dataset_json()

    def _check_compatible(self, existing: Mapping[str, Any]) -> None:
        expected = {"channel_names": {"0": self.modality}, "labels": self.labels, "file_ending": FILE_ENDING}
        for key, value in expected.items():
            if existing.get(key) != value:
                raise InvalidInputError(
                    f"Cannot resume {self.folder}: its dataset.json has {key}={existing.get(key)!r} but this run "
                    f"writes {key}={value!r}. Use the same settings, another dataset id, or --overwrite."
                )

    # -- state --------------------------------------------------------------------------------
    def has_case(self, case_id: str) -> bool:
        """Whether ``case_id`` is finished: its image (written last) and its label both exist."""
        check_case_id(case_id)
        return self.image_path(case_id).is_file() and self.label_path(case_id).is_file()

    def _image_cases(self) -> list[str]:
        """Identifiers of the cases with an image in ``imagesTr``, sorted."""
        if not self.images_dir.is_dir():
            return []
        return sorted(
            p.name[: -len(_CHANNEL_SUFFIX)]
            for p in self.images_dir.iterdir()
            if p.name.endswith(_CHANNEL_SUFFIX) and not p.name.startswith(".")
        )

    def finished_cases(self) -> list[str]:
        """Identifiers of the finished cases (image and label both present), sorted: those ``dataset.json`` lists."""
        return [case for case in self._image_cases() if self.label_path(case).is_file()]

    def dataset_json(self, cases: list[str]) -> dict[str, Any]:
        """The ``dataset.json`` content listing the finished ``cases``."""
        description = (
            "SYNTHETIC brain MRI generated by BrainGen3D (text-conditioned latent diffusion). "
            "No image shows a real patient. Per-case provenance is in provenance/<case>.json."
        )
        if self.description:
            description += " " + self.description
        return {
            "name": self.folder.name,
            "description": description,
            "reference": "BrainGen3D synthetic data",
            "licence": self.licence,
            "release": ENGINE_VERSION,
            "channel_names": {"0": self.modality},
            "labels": dict(self.labels),
            "numTraining": len(cases),
            "file_ending": FILE_ENDING,
            "synthetic": True,
            "generator": {"name": "BrainGen3D", "engine_version": ENGINE_VERSION},
            "dataset": {
                case: {"images": [f"imagesTr/{self.image_path(case).name}"],
                       "label": f"labelsTr/{self.label_path(case).name}"}
                for case in cases
            },
        }

    def _update_dataset_json(self) -> int:
        """Rewrite dataset.json from the files present, under the dataset lock. Returns numTraining."""
        with file_lock(self.folder / _LOCK_NAME):
            cases = self.finished_cases()
            text = json.dumps(self.dataset_json(cases), indent=2, ensure_ascii=False) + "\n"
            atomic_write_text(self.folder / "dataset.json", text, overwrite=True)
        return len(cases)

    # -- writing ------------------------------------------------------------------------------
    def write_case(
        self,
        case_id: str,
        volume: np.ndarray,
        affine: np.ndarray,
        label: np.ndarray,
        provenance: Mapping[str, Any] | None,
    ) -> bool:
        """Write one finished case (label, provenance, then image) and list it in ``dataset.json`` (the commit).

        Args:
            case_id: nnU-Net case identifier (letters, digits, ``_``, ``-``).
            volume: float image in (i, j, k) order.
            affine: its 4x4 voxel-to-RAS affine (also used for the label).
            label: uint8-compatible mask on the same grid, values among ``labels``.
            provenance: the generation record of this case.

        Returns:
            ``True`` if the case was written; ``False`` if ``mode='resume'`` and it was already
            finished (finished cases are never rewritten).

        Raises:
            OutputExistsError: the case was already written by this writer (duplicate case id).
            InvalidInputError: bad id, shapes, values or provenance.
            OSError: the disk is full or not writable. Finished cases stay valid; rerun with resume.
        """
        check_case_id(case_id)
        if case_id in self._written_this_session:
            raise OutputExistsError(f"Case {case_id!r} was already written in this run; case ids must be unique.")
        if self.has_case(case_id):
            if self.mode == "resume":
                logger.info("Case %s is already finished; not rewriting it.", case_id)
                return False
            raise OutputExistsError(f"Case {case_id!r} already exists in {self.folder}; case ids must be unique.")
        volume = check_volume(volume)
        affine = check_affine(affine)
        label = check_label(label, volume.shape, [v for v in self.labels.values() if v != 0])
        record = normalise_provenance(provenance)

        image_bytes = nifti_bytes(make_nifti(volume, affine, xform_code=NIFTI_XFORM_SCANNER,
                                             descrip=nifti_descrip(f"{self.modality} image")), gzipped=True)
        label_bytes = nifti_bytes(make_nifti(label, affine, xform_code=NIFTI_XFORM_SCANNER,
                                             descrip=nifti_descrip("label map"), intent="label"), gzipped=True)
        export_info = {
            "kind": "nnunet_case",
            "dataset": self.folder.name,
            "case_id": case_id,
            "image": f"imagesTr/{self.image_path(case_id).name}",
            "label": f"labelsTr/{self.label_path(case_id).name}",
            "modality": self.modality,
            "labels": dict(self.labels),
        }
        try:
            # Order matters: the image is written last, then dataset.json lists the case (see the module docstring).
            atomic_write_bytes(self.label_path(case_id), label_bytes, overwrite=True)
            atomic_write_text(self.provenance_path(case_id), sidecar_text(record, export_info), overwrite=True)
            atomic_write_bytes(self.image_path(case_id), image_bytes, overwrite=True)
        except OSError as error:
            error.add_note(
                f"BrainGen3D: case {case_id!r} was not written. The finished cases in {self.folder} remain a valid "
                "nnU-Net dataset; free some space and rerun with --resume to continue."
            )
            logger.error("Writing case %s failed: %s", case_id, error)
            raise
        self._written_this_session.add(case_id)
        count = self._update_dataset_json()
        logger.info("Wrote case %s (%d finished cases in %s)", case_id, count, self.folder.name)
        return True

    def finalise(self) -> int:
        """Rewrite ``dataset.json`` from the finished cases and remove this host's dead temporary files.

        Call once, after every writer process has finished. Labels without an image (left by an
        interrupted case) are reported, not deleted: nnU-Net ignores them and a resumed run
        overwrites them.

        Returns:
            the number of finished cases (``numTraining``).
        """
        removed = sum(
            remove_stale_partials(d) for d in (self.folder, self.images_dir, self.labels_dir, self.provenance_dir)
        )
        if removed:
            logger.info("Removed %d temporary file(s) left by interrupted runs", removed)
        count = self._update_dataset_json()
        finished = set(self._image_cases())
        orphans = sorted(
            p.name
            for p in self.labels_dir.iterdir()
            if p.name.endswith(FILE_ENDING) and p.name[: -len(FILE_ENDING)] not in finished
        )
        if orphans:
            logger.warning("%d label file(s) have no image (unfinished cases): %s", len(orphans), orphans[:5])
        missing = sorted(c for c in finished if not self.label_path(c).is_file())
        if missing:
            raise InvalidInputError(
                f"Cases {missing[:5]} have an image but no label in {self.labels_dir}, so dataset.json leaves them "
                "out. Restore the labels or delete those images, then run again with --resume."
            )
        logger.info("nnU-Net dataset %s: %d training cases", self.folder, count)
        return count
