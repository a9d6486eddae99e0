"""The worker process protocol the Slicer module relies on (JSON lines on stdout)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest


def run_worker(request: dict | str) -> tuple[int, list[dict]]:
    payload = request if isinstance(request, str) else json.dumps(request)
    result = subprocess.run([sys.executable, "-m", "braingen3d.worker"], input=payload, capture_output=True, text=True,
                            timeout=300)
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every stdout line must be JSON
    return result.returncode, events


@pytest.mark.slow
def test_generate_streams_progress_then_result(tiny_bundle, tmp_path):
    code, events = run_worker({"task": "generate", "bundle": str(tiny_bundle), "prompt": "T1 brain", "steps": 3,
                               "seed": 5, "num_volumes": 2, "device": "cpu", "output_dir": str(tmp_path)})
    assert code == 0
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-2:] == ["result", "done"]
    progress = [e for e in events if e["event"] == "progress" and e["phase"] == "denoise"]
    assert [(e["volume"], e["step"]) for e in progress] == [(v, s) for v in (1, 2) for s in (1, 2, 3)]
    outputs = events[-2]["outputs"]
    assert [o["provenance"]["seed"] for o in outputs] == [5, 6]
    for output in outputs:
        path = Path(output["path"])
        assert path.parent == tmp_path and path.is_file()
        assert np.asarray(nib.load(path).dataobj).shape == (16, 16, 16)


@pytest.mark.slow
def test_bad_bundle_is_an_error_event_and_no_output(tmp_path):
    code, events = run_worker({"task": "generate", "bundle": str(tmp_path / "missing"), "prompt": "T1",
                               "output_dir": str(tmp_path / "out")})
    assert code == 1
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "bundle" and "does not exist" in events[-1]["message"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_invalid_requests_are_reported():
    code, events = run_worker("{broken")
    assert code == 1 and events[-1]["kind"] == "invalid_input"
    code, events = run_worker({"task": "teleport"})
    assert code == 1 and "Unknown task" in events[-1]["message"]


def test_probe_reports_devices():
    code, events = run_worker({"task": "probe"})
    assert code == 0
    assert "cuda_available" in events[-2]["outputs"][0]["devices"]
