"""Outputs made of several files (image, sidecar, preview, mask) that count as finished only when the image is in.

Each file is written atomically, one after another, and the image (the *marker*) is always committed last. So
at every instant, also after a kill, the set is either finished (the marker is in place, and every other file
of it was committed before) or unfinished: some of its other files, and hidden ``.partial`` temporaries, may be
there without the marker. A rerun treats the files of an unfinished set that BrainGen3D wrote as its own
leftovers and replaces them without ``--overwrite``; a file BrainGen3D did not write is never replaced silently.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from .atomic import check_writable, remove_stale_partials, removed_on_failure
from .paths import volume_suffix

logger = logging.getLogger(__name__)

_GENERATOR = "BrainGen3D"


def written_by_braingen3d(path: Path) -> bool:
    """Whether ``path`` is a file BrainGen3D writes: a provenance sidecar, a preview or a volume carrying its
    provenance. Unreadable or foreign files are not."""
    path = Path(path)
    if not path.is_file():
        return False
    name = path.name.lower()
    try:
        if name.endswith(".json"):
            record = json.loads(path.read_text(encoding="utf-8"))
            return isinstance(record, dict) and record.get("generator") == _GENERATOR
        if name.endswith(".png"):
            from .preview import preview_generator

            return preview_generator(path) == _GENERATOR
        if volume_suffix(path) in (".nii.gz", ".nii"):
            from .nifti import nifti_provenance

            return nifti_provenance(path) is not None
        if volume_suffix(path) == ".nrrd":
            from .nrrd_io import PROVENANCE_KEY, read_nrrd_header

            return PROVENANCE_KEY in read_nrrd_header(path)
    except Exception:  # an unreadable file is not one of ours: never replace it without --overwrite
        return False
    return False


def leftovers(marker: Path, others: Sequence[Path]) -> list[Path]:
    """The files of ``others`` that an interrupted write of this set left: the marker is missing and
    BrainGen3D wrote them."""
    if Path(marker).exists():
        return []
    return [Path(p) for p in others if written_by_braingen3d(Path(p))]


def check_output_set(marker: Path, others: Sequence[Path], overwrite: bool) -> None:
    """Raise before any work if a file of the set exists (without ``overwrite``) or cannot be written.

    Leftovers of an interrupted write of the same set (see :func:`leftovers`) do not count as existing.
    """
    replaceable = set(leftovers(marker, others))
    for target in [*others, marker]:
        check_writable(target, overwrite or Path(target) in replaceable)


@contextlib.contextmanager
def writing_output_set(marker: Path, others: Sequence[Path], overwrite: bool) -> Iterator[tuple[set[Path], list[Path]]]:
    """Prepare and guard the writing of one output set; the caller writes ``others`` first and ``marker`` last.

    On entry: removes hidden temporaries of these files left by dead processes, and, with ``overwrite``, removes
    an existing marker first, so that a kill part-way leaves an unfinished set rather than new files beside an
    old image.

    Yields:
        ``(replaceable, written)``: the files the caller may replace (write with ``overwrite=True``), and a list
        to append each written file to; if the block raises, those files are removed again.
    """
    marker = Path(marker)
    files = [Path(p) for p in others] + [marker]
    by_folder: dict[Path, list[str]] = {}
    for path in files:
        by_folder.setdefault(path.parent, []).append(path.name)
    for folder, names in by_folder.items():
        if remove_stale_partials(folder, names):
            logger.info("Removed temporary files of %s left by an interrupted run", marker.name)
    replaceable = set(files) if overwrite else set(leftovers(marker, others))
    if replaceable and not overwrite:
        logger.info("Replacing %s, left without its image by an interrupted run", ", ".join(p.name for p in sorted(replaceable)))
    if overwrite and marker.exists():
        marker.unlink()
    with removed_on_failure() as written:
        yield replaceable, written
