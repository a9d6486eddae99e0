"""Time a Generate request through the Slicer module's logic, end to end (not part of the test suite).

Runs the module's ``GenerationLogic`` on a real MRML scene (``slicer-core``, no Slicer application) with the
real engine worker (needs the test extra, which installs ``slicer-core``), and times each request from the
call to the volume node in the scene. The first request
starts the warm worker (engine import and bundle load); the later ones reuse it. Prints one Markdown table.

    python benchmarks/bench_slicer_request.py [--bundle DIR] [--requests 3]
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "BrainGen3D"))

logger = logging.getLogger("bench_slicer_request")

PROMPT = "T2-weighted MRI of a 72-year-old woman with enlarged ventricles"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None, help="default: the embedded bundle")
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import slicer

    from BrainGen3DLib.logic import GenerationLogic, GenerationSettings
    from BrainGen3DLib.process import RunStatus
    from BrainGen3DLib.warm_worker import shutdown_warm_workers

    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    rows = []
    with tempfile.TemporaryDirectory() as work_root:
        logic = GenerationLogic(scene=scene, worker_command=[sys.executable, "-m", "braingen3d.worker"],
                                use_timer=False, work_root=Path(work_root))
        try:
            for index in range(args.requests):
                settings = GenerationSettings(prompt=PROMPT, seed=index, bundle_path=args.bundle,
                                              device=args.device)
                start = time.perf_counter()
                logic.generate(settings)
                outcome = logic.wait(900.0)
                seconds = time.perf_counter() - start
                if outcome.status != RunStatus.SUCCEEDED:
                    raise SystemExit(f"request {index + 1} failed: {outcome.message}")
                rows.append((index + 1, "cold: starts the worker" if index == 0 else "warm", seconds))
                logger.info("request %d: %.2f s", index + 1, seconds)
        finally:
            shutdown_warm_workers()
    print(f"\nCPU: {platform.processor() or platform.machine()}, Python {platform.python_version()}\n")
    print("| request | worker | seconds from Generate to the volume in the scene |")
    print("| --- | --- | --- |")
    for index, kind, seconds in rows:
        print(f"| {index} | {kind} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
