"""A stand-in for ``python -m braingen3d.worker`` that speaks the same JSON-lines protocol.

It needs neither torch nor a bundle, so the process handling can be tested quickly, including the
failures a real worker rarely shows on demand. Usage::

    python bg3d_standin_worker.py --mode ok < request.json

Modes: ``ok`` (writes seeded NIfTI volumes), ``slow`` (ok, but each step takes --step-seconds and a
grandchild process is started, for cancel tests), ``crash`` (exit 3 without a result), ``killed``
(dies by SIGKILL), ``oom`` / ``bad_bundle`` (error events), ``outside`` (a result path outside
output_dir), ``no_result`` (exit 0 without a result), ``noise`` (non-JSON stdout lines around a good run),
``no_inpaint`` (the error of a bundle without inpainting), ``internal`` (an internal error event).

Two tasks: ``generate`` and ``inpaint`` (see ``standin_inpaint.py``). The request is checked with the engine's
protocol module (``braingen3d.worker.protocol``, every field present); a malformed one gets an ``invalid_input``
error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import standin_inpaint

from braingen3d.worker.protocol import ProtocolError, event, parse_request

SHAPE = (12, 14, 10)
AFFINE = np.array([[2.0, 0, 0, -11.0], [0, 2.0, 0, -30.0], [0, 0, 2.0, 5.0], [0, 0, 0, 1]])


def emit(name: str, **fields) -> None:
    sys.stdout.write(json.dumps(event(name, **fields)) + "\n")
    sys.stdout.flush()


def check_request(request: dict) -> str | None:
    """What is wrong with the request, by the engine's protocol, which the module must fill completely."""
    try:
        task = parse_request(request, complete=True)
    except ProtocolError as error:
        return str(error)
    if task.task not in ("generate", "inpaint"):
        return f"the stand-in worker runs generate and inpaint, not {task.task}"
    return None


def volume(seed: int) -> np.ndarray:
    """A seeded volume with a bright ellipsoid, so window/level and geometry are checkable."""
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij")
    ball = ((i / 0.8) ** 2 + (j / 0.7) ** 2 + (k / 0.9) ** 2 < 1).astype(np.float32)
    return (ball * 0.8 + rng.random(SHAPE, dtype=np.float32) * 0.1).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--step-seconds", type=float, default=0.01)
    args = parser.parse_args()
    request = json.loads(sys.stdin.read())
    emit("started", pid=os.getpid())
    problem = check_request(request)
    if problem:
        emit("error", kind="invalid_input", message=problem)
        emit("done")
        return 2
    mode = args.mode
    print("stand-in worker: loading bundle", file=sys.stderr, flush=True)
    if mode == "crash":
        print("Traceback (most recent call last): simulated crash", file=sys.stderr, flush=True)
        return 3
    if mode == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "oom":
        emit("error", kind="out_of_memory", message="CUDA out of memory (simulated)")
        emit("done")
        return 1
    if mode == "bad_bundle":
        emit("error", kind="bundle", message="Bundle config field 'unet.in_channels' is 3 but ... (simulated)")
        emit("done")
        return 1
    if mode == "no_inpaint" and request["task"] == "inpaint":
        emit("error", kind="invalid_input", message="The bundle standin-bundle 0.0.1 does not support inpainting (its "
             "capabilities.inpaint is empty). Use a bundle that lists 'repaint' or 'inpaint_unet'.")
        emit("done")
        return 2
    if mode == "internal":
        emit("error", kind="internal", message="RuntimeError: simulated internal failure")
        emit("done")
        return 1
    if mode == "slow":
        # A grandchild, as a real worker may have (data loaders, compilers): cancel must take it too.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        emit("log", level="info", message=f"grandchild {child.pid}")
    emit("log", level="info", message=f"stand-in worker, mode {mode}")
    if request["task"] == "inpaint":
        return standin_inpaint.run(request, emit, mode, args.step_seconds)
    out_dir = Path(request["output_dir"])
    outputs = []
    for k in range(request["num_volumes"]):
        for step in range(1, request["steps"] + 1):
            time.sleep(args.step_seconds)
            if mode == "noise":
                print(f"plain text line {step}", flush=True)
            emit("progress", step=step, total=request["steps"], volume=k + 1, num_volumes=request["num_volumes"],
                 eta_seconds=args.step_seconds * (request["steps"] - step), phase="denoising")
        seed = request["seed"] + k
        path = out_dir / f"standin_{seed}.nii.gz"
        if mode == "outside":
            path = out_dir.parent / f"outside_{seed}.nii.gz"
        nib.save(nib.Nifti1Image(volume(seed), AFFINE), str(path))
        provenance = {"synthetic": True, "generator": "BrainGen3D", "engine_version": "standin", "task": "generate",
                      "prompt": request["prompt"], "negative_prompt": request["negative_prompt"], "seed": seed,
                      "steps": request["steps"], "guidance_scale": request["guidance"], "sampler": request["sampler"],
                      "bundle_id": "standin-bundle", "bundle_version": "0.0.1", "device": "cpu",
                      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(), "index": k}
        outputs.append({"path": str(path), "provenance": provenance})
    if mode != "no_result":
        emit("result", outputs=outputs)
    emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
