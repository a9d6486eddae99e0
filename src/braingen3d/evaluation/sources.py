"""Finding the volumes to evaluate: a folder of volumes or a manifest CSV, with modality, age and sex.

A folder holds ``<subject>_<MODALITY>.nii.gz`` files (also ``.nii`` and ``.nrrd``); a file whose name
does not end in a modality may have a JSON sidecar (``<name>.json``) with ``modality`` (and optionally
``age`` and ``sex``) or the ``prompt`` it was generated from; the sidecars of volumes kept by
``evaluate --keep-generated`` also name the reference subject their prompt came from
(``evaluation_subject``). A manifest is the training manifest
(``subject_id``, ``image``, ``modality``, ``age``, ``sex``, ``split`` columns; paths relative to it).
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from .engine_adapter import MODALITIES, InvalidInputError, facts_from_prompt

logger = logging.getLogger(__name__)

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd")
MANIFEST_COLUMNS = ("subject_id", "image", "modality")


@dataclass(frozen=True)
class VolumeSource:
    """One volume to read.

    Args:
        path: the volume file.
        subject: subject identifier (the file name without the modality for folders).
        modality: ``T1``, ``T2``, ``FLAIR`` or ``PD``.
        age: age in years, if known.
        sex: ``F`` or ``M``, if known.
        split: the manifest split, if read from a manifest.
        prompt: the prompt it was generated from, if known.
        seed: the seed it was generated with, if known.
    """

    path: Path
    subject: str
    modality: str
    age: float | None = None
    sex: str | None = None
    split: str | None = None
    prompt: str | None = None
    seed: int | None = None


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((suffix for suffix in VOLUME_SUFFIXES if name.endswith(suffix)), None)


def _stem(path: Path) -> str:
    return path.name[: -len(_suffix(path) or path.suffix)]


def _modality_from_name(stem: str) -> tuple[str, str] | None:
    subject, _, last = stem.rpartition("_")
    for modality in MODALITIES:
        if last.upper() == modality.upper() and subject:
            return subject, modality
    return None


def _age(value: object) -> float | None:
    try:
        age = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return age if 0 < age < 130 else None


def _sex(value: object) -> str | None:
    text = str(value or "").strip().upper()
    return {"F": "F", "FEMALE": "F", "M": "M", "MALE": "M"}.get(text)


def _readable(path: Path) -> str | None:
    """None if the header of ``path`` reads, else the reason."""
    try:
        if _suffix(path) == ".nrrd":
            import nrrd

            header = nrrd.read_header(str(path))
            dimension = int(header.get("dimension", 0))
        else:
            import nibabel as nib

            image = nib.load(str(path))
            shape = image.shape
            dimension = len(shape) if not (len(shape) == 4 and shape[3] == 1) else 3
    except Exception as error:  # readers raise many types for broken files
        return f"cannot be read ({type(error).__name__}: {error})"
    return None if dimension == 3 else f"has {dimension} dimensions, not 3"


def _sidecar_facts(path: Path) -> dict:
    sidecar = path.with_name(_stem(path) + ".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        logger.warning("Ignoring sidecar %s: %s", sidecar, error)
        return {}
    if not isinstance(data, dict):
        return {}
    facts = facts_from_prompt(str(data.get("prompt") or "")) if data.get("prompt") else {}
    if str(data.get("modality", "")).upper() in {m.upper() for m in MODALITIES}:
        facts["modality"] = next(m for m in MODALITIES if m.upper() == str(data["modality"]).upper())
    for key in ("age", "sex", "prompt", "seed", "evaluation_subject"):
        if data.get(key) not in (None, ""):
            facts[key] = data[key]
    return facts


def read_folder(folder: Path, what: str) -> list[VolumeSource]:
    """Every readable volume in ``folder`` (not recursive) with its modality.

    Raises:
        InvalidInputError: the folder holds no readable volume, or a volume has no modality.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and _suffix(p) and not p.name.startswith("."))
    sources, unreadable, unnamed = [], [], []
    for path in files:
        problem = _readable(path)
        if problem:
            unreadable.append(f"{path.name} {problem}")
            continue
        facts = _sidecar_facts(path)
        named = _modality_from_name(_stem(path))
        subject, modality = named if named else (_stem(path), facts.get("modality"))
        # Volumes kept by `evaluate --keep-generated` name the reference subject their prompt came from.
        subject = str(facts.get("evaluation_subject") or subject)
        if modality is None:
            unnamed.append(path.name)
            continue
        seed = facts.get("seed")
        sources.append(VolumeSource(path, subject, modality, _age(facts.get("age")), _sex(facts.get("sex")),
                                    prompt=facts.get("prompt"), seed=int(seed) if isinstance(seed, (int, float)) else None))
    for line in unreadable:
        logger.warning("Skipping %s volume %s", what, line)
    if not sources and not unnamed:
        found = (f"{len(files)} volume file(s), none readable: {'; '.join(unreadable[:3])}" if files
                 else "no .nii, .nii.gz or .nrrd file")
        raise InvalidInputError(f"The {what} folder {folder} holds no readable volumes ({found}). "
                                "Point it at a folder of 3D NIfTI/NRRD volumes or at a manifest CSV.")
    if unnamed:
        shown = ", ".join(unnamed[:5]) + (" ..." if len(unnamed) > 5 else "")
        raise InvalidInputError(
            f"The modality of {len(unnamed)} {what} volume(s) is unknown ({shown}). Name each file "
            f"<subject>_<MODALITY>.nii.gz with MODALITY one of {', '.join(MODALITIES)}, or put a JSON sidecar "
            "<name>.json beside it with a \"modality\" (or the \"prompt\" it was generated from).")
    return sources


def _pick_split(rows: list[dict], split: str | None, preferred: tuple[str, ...], manifest: Path, what: str) -> list[dict]:
    available = sorted({row.get("split", "") for row in rows} - {""})
    if split:
        chosen = [row for row in rows if row.get("split", "") == split]
        if not chosen:
            raise InvalidInputError(f"The {what} manifest {manifest} has no rows with split {split!r}; "
                                    f"its splits are {', '.join(available) or 'none'}.")
        return chosen
    for name in preferred:
        chosen = [row for row in rows if row.get("split", "") == name]
        if chosen:
            logger.info("Using the %d %s rows of split %r of %s.", len(chosen), what, name, manifest)
            return chosen
    return rows


def read_manifest(manifest: Path, what: str, split: str | None, preferred: tuple[str, ...]) -> list[VolumeSource]:
    """The rows of ``manifest`` in ``split`` (or the first of ``preferred`` present, else all rows).

    Raises:
        InvalidInputError: naming the line and column of a malformed row or a missing file.
    """
    try:
        with manifest.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [column for column in MANIFEST_COLUMNS if column not in header]
            if missing:
                raise InvalidInputError(f"The {what} manifest {manifest} lacks column(s) {', '.join(missing)}; "
                                        f"a manifest needs at least {', '.join(MANIFEST_COLUMNS)}.")
            rows = [{**row, "_line": reader.line_num} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InvalidInputError(f"The {what} manifest {manifest} cannot be read: {error}") from error
    rows = _pick_split(rows, split, preferred, manifest, what)
    sources = []
    for row in rows:
        where = f"{manifest}, line {row['_line']}"
        modality = next((m for m in MODALITIES if m.upper() == str(row.get("modality") or "").strip().upper()), None)
        if modality is None:
            raise InvalidInputError(f"{where}, column 'modality': {row.get('modality')!r} is not one of {', '.join(MODALITIES)}.")
        image = Path(str(row.get("image") or "").strip())
        if not str(image) or str(image) == ".":
            raise InvalidInputError(f"{where}, column 'image': the value is empty.")
        path = image if image.is_absolute() else manifest.parent / image
        if not path.is_file():
            raise InvalidInputError(f"{where}, column 'image': file {path} does not exist.")
        problem = _readable(path)
        if problem:
            raise InvalidInputError(f"{where}, column 'image': {path} {problem}.")
        sources.append(VolumeSource(path, str(row.get("subject_id") or _stem(path)).strip(), modality,
                                    _age(row.get("age")), _sex(row.get("sex")), split=row.get("split") or None))
    if not sources:
        raise InvalidInputError(f"The {what} manifest {manifest} has no rows; it holds no readable volumes.")
    return sources


def find_sources(location: Path, what: str, split: str | None = None,
                 preferred_splits: tuple[str, ...] = ()) -> list[VolumeSource]:
    """The volumes at ``location``: a folder of volumes or a manifest ``.csv``.

    Args:
        location: folder or manifest.
        what: ``reference``, ``training`` or ``generated``, for messages.
        split: manifest split to use (manifests only).
        preferred_splits: splits tried in order when ``split`` is None (all rows if none is present).
    """
    location = Path(location)
    if location.is_dir():
        if split:
            raise InvalidInputError(f"A {what} split ({split!r}) applies to manifests only; {location} is a folder.")
        return read_folder(location, what)
    if location.is_file() and location.suffix.lower() == ".csv":
        return read_manifest(location, what, split, preferred_splits)
    if location.exists():
        raise InvalidInputError(f"The {what} {location} is neither a folder of volumes nor a manifest .csv.")
    raise InvalidInputError(f"The {what} {location} does not exist. Give a folder of volumes or a manifest .csv.")
