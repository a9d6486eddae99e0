"""The warm worker (``python -m braingen3d.worker --persistent``): requests one after another with the bundle
loaded once, cancel at a step boundary that keeps it warm, bad lines answered while it goes on serving,
and its own exit on shutdown, end of input or idleness."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


class WarmWorker:
    """The worker process with a line reader, for tests."""

    def __init__(self, *args: str) -> None:
        self.popen = subprocess.Popen([sys.executable, "-m", "braingen3d.worker", "--persistent", *args],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True, bufsize=1)
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.events.put(json.loads(line))
        self.events.put(None)

    def send(self, message: dict | str) -> None:
        self.popen.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        self.popen.stdin.flush()

    def next(self, timeout: float = 120.0) -> dict | None:
        return self.events.get(timeout=timeout)

    def until_end(self, request_id, timeout: float = 120.0) -> list[dict]:
        """Events up to and including the request's ``done`` or ``error``."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.1, deadline - time.monotonic()))
            assert event is not None, f"the worker exited; events so far: {seen}"
            seen.append(event)
            if event["event"] in ("done", "error") and event.get("id") == request_id:
                return seen

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)


def _generate(bundle: Path, out: Path, request_id, steps: int = 2, seed: int = 0) -> dict:
    return {"id": request_id, "task": "generate", "output_dir": str(out), "prompt": "T1-weighted MRI of a man",
            "steps": steps, "sampler": "ddim", "seed": seed, "bundle": str(bundle), "device": "cpu"}


def test_requests_share_one_loaded_bundle_and_each_ends_with_done(tiny_bundle, tmp_path):
    worker = WarmWorker()
    try:
        started = worker.next()
        assert started["event"] == "started" and started["persistent"] is True
        worker.send(_generate(tiny_bundle, tmp_path, "a", seed=1))
        first = worker.until_end("a")
        worker.send(_generate(tiny_bundle, tmp_path, 2, seed=2))
        second = worker.until_end(2)
    finally:
        worker.close()
    for events, seed in ((first, 1), (second, 2)):
        assert [e["event"] for e in events][-2:] == ["result", "done"]
        output = events[-2]["outputs"][0]
        assert Path(output["path"]).is_file() and output["provenance"]["seed"] == seed
    loads = [e for e in first + second if e["event"] == "log" and "Loading bundle" in e["message"]]
    assert len(loads) == 1  # the second request reused the loaded model
    assert all(e.get("id") == 2 for e in second if e["event"] != "log")


def test_cancel_stops_the_running_request_and_the_worker_stays_warm(tiny_bundle, tmp_path):
    worker = WarmWorker()
    try:
        worker.send(_generate(tiny_bundle, tmp_path / "warm", "warm-up"))
        worker.until_end("warm-up")
        worker.send(_generate(tiny_bundle, tmp_path / "long", "long", steps=400))
        while worker.next()["event"] != "progress":
            pass
        worker.send({"control": "cancel", "id": "long"})
        events = worker.until_end("long", timeout=60)
        assert events[-1]["event"] == "error" and events[-1]["kind"] == "cancelled"
        assert not list((tmp_path / "long").glob("*.nii.gz"))  # nothing was written
        worker.send(_generate(tiny_bundle, tmp_path / "after", "after"))
        after = worker.until_end("after")
        assert after[-1]["event"] == "done"
        assert not [e for e in after if e["event"] == "log" and "Loading bundle" in e["message"]]
    finally:
        worker.close()


@pytest.mark.parametrize("line, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"task": "paint"}), "Unknown task 'paint'"),
    (json.dumps({"control": "pause"}), "Unknown control 'pause'"),
    (json.dumps({"id": [1], "task": "probe"}), "'id' is list"),
    (json.dumps({"task": "generate", "output_dir": 3}), "'output_dir' is int"),
    ("x" * (2 << 20), "longer than"),
])
def test_bad_lines_are_answered_and_the_worker_goes_on(line, message):
    worker = WarmWorker()
    try:
        worker.send(line)
        while (event := worker.next())["event"] != "error":
            pass
        assert event["kind"] == "invalid_input" and message in event["message"]
        worker.send({"id": "p", "task": "probe"})
        events = worker.until_end("p")
        assert events[-1]["event"] == "done" and "engine_version" in events[-2]["outputs"][0]
    finally:
        worker.close()


def test_the_worker_exits_on_shutdown_on_end_of_input_and_when_idle():
    shutdown = WarmWorker()
    shutdown.send({"control": "shutdown"})
    assert shutdown.popen.wait(60) == 0
    ended = WarmWorker()
    ended.popen.stdin.close()
    assert ended.popen.wait(60) == 0
    idle = WarmWorker("--idle-timeout", "1")
    assert idle.popen.wait(60) == 0
    events = []
    while (event := idle.next(5)) is not None:
        events.append(event)
    assert any("No request for" in e.get("message", "") for e in events)
