"""Helpers for the batch and export CLI tests: in-process CLI calls and file snapshots."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

TEMPLATE = "{modality} MRI of a {age}-year-old {sex} with {ventricles} ventricles and {lesions}"


def make_plan(n: int = 6, seed: int = 0, lesions: str = "0-3", **kwargs):
    """A template plan for a made-up bundle (no model needed)."""
    from braingen3d.batch import GenerationSettings, LesionRanges, plan_from_template

    settings = GenerationSettings("FLAIR", "bundle-x", "1.0", steps=4, guidance_scale=3.0, sampler="dpm++")
    return plan_from_template(TEMPLATE, n, seed, settings, LesionRanges.parse(lesions, "5-15", None),
                              age="20-90", sex="both", ventricles="normal,enlarged", **kwargs)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``braingen3d`` in this process; returns (exit code, stdout, stderr)."""
    from braingen3d.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def batch_args(bundle: Path, root: Path, n: int = 4, dataset_id: int = 501, name: str = "SynthTest",
               *extra: str) -> list[str]:
    """A small template batch on the tiny bundle: 2 steps, 0-2 lesions of 5-15 mm, FLAIR."""
    return ["-q", "batch", "-o", str(root), "--dataset-id", str(dataset_id), "--dataset-name", name,
            "--modality", "FLAIR", "--template", TEMPLATE, "--age", "20-90", "--sex", "both",
            "--ventricles", "normal,enlarged", "--lesions", "0-2", "--lesion-size-mm", "5-15",
            "--num-cases", str(n), "--seed", "0", "--steps", "2", "--bundle", str(bundle), "--device", "cpu", *extra]


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``folder`` (except dataset.json and the lock) → (inode, mtime_ns, sha256)."""
    state = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in ("dataset.json", ".braingen3d.lock"):
            stat = path.stat()
            state[str(path.relative_to(folder))] = (stat.st_ino, stat.st_mtime_ns,
                                                    hashlib.sha256(path.read_bytes()).hexdigest())
    return state


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
