"""Run as a script in a separate process: prints one JSON line describing the compute devices.

Importing torch takes seconds and must never happen on Slicer's GUI thread, so the panel runs this
file with Slicer's Python and reads its answer (see ``devices.DeviceProbe``).
"""

from __future__ import annotations

import json
import sys


def describe() -> dict:
    try:
        from braingen3d.device import describe_devices
    except ImportError:
        describe_devices = None
    if describe_devices is not None:
        return describe_devices()
    try:
        import torch
    except ImportError:
        return {"error": "PyTorch is not installed"}
    info = {"cuda_available": torch.cuda.is_available(), "cpu_threads": torch.get_num_threads(), "torch": torch.__version__}
    if info["cuda_available"]:
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def main() -> int:
    try:
        info = describe()
    except Exception as exc:  # noqa: BLE001 - report anything as text, never a traceback on stdout
        info = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps({"event": "devices", **info}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
