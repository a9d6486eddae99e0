"""The output files of ``generate``: which volumes a run must make (``--resume`` keeps finished ones), and how
to say which volumes are on disk when a run stops early."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.errors import InvalidInputError, OutputExistsError
from ..io import check_outputs, sidecar_path
from ..requests.generation import GenerationRequest


def _recorded_provenance(image: Path) -> dict | None:
    """The sidecar of a finished volume (its image is committed after its sidecar), or None if it has none."""
    sidecar = sidecar_path(image)
    if not image.is_file() or not sidecar.is_file():
        return None
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def volumes_to_make(targets: list[Path], params: GenerationRequest, bundle_id: str, bundle_version: str,
                    overwrite: bool, resume: bool, preview: bool) -> list[int]:
    """The indices of the volumes to generate, every output checked before any model work.

    With ``resume``, a volume whose image and sidecar are there and whose provenance matches the request
    (bundle, prompt, negative prompt, seed, steps, guidance, sampler; see
    ``GenerationRequest.provenance_differences``) is kept; one that differs is refused, or made again with
    ``overwrite``.

    Raises:
        InvalidInputError: an output path is unusable.
        OutputExistsError: an output exists (without ``overwrite``), or with ``resume`` it was made differently.
    """
    todo = []
    for k, target in enumerate(targets):
        record = _recorded_provenance(target) if resume else None
        if record is not None:
            differences = params.provenance_differences(record, k, bundle_id, bundle_version)
            if not differences:
                continue
            if not overwrite:
                raise OutputExistsError(
                    f"{target} was made differently from this request ({'; '.join(differences)}), so --resume "
                    "cannot keep it. Rerun with the settings of the run you continue, pass --overwrite to replace "
                    "it, or choose another output path.")
        check_outputs(target, overwrite, preview=preview)
        todo.append(k)
    return todo


def check_resume_seed(resume: bool, seed: int | None) -> None:
    """``--resume`` continues a run only with that run's seed (a random one would match no volume)."""
    if resume and seed is None:
        raise InvalidInputError("--resume needs the --seed of the run it continues (volume k was made with seed+k; "
                                "see \"seed\" in the first volume's .json sidecar).")


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for k in indices:
        if runs and runs[-1][1] == k - 1:
            runs[-1] = (runs[-1][0], k)
        else:
            runs.append((k, k))
    return runs


def finished_note(targets: list[Path], finished: list[int]) -> str:
    """A sentence naming the volumes that are on disk, complete, out of ``targets``, and how to make the rest."""
    total = len(targets)
    if not finished:
        return "No volume of this run was finished; nothing of it is on disk."
    names = ", ".join(targets[a].name if a == b else f"{targets[a].name} to {targets[b].name}"
                      for a, b in _runs(sorted(finished)))
    missing = total - len(finished)
    note = f"{len(finished)} of {total} volume(s) are finished on disk, each with its sidecar: {names}."
    if missing:
        note += f" Rerun the same command with --resume to make the other {missing}."
    return note
