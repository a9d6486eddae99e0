"""The module's warm engine worker: later runs reuse the process and its loaded bundle, cancel mid-denoising
keeps it warm, and a crashed, hung or replaced worker is reported and replaced, never touching the scene."""

from __future__ import annotations

import sys
import time

import psutil
import pytest

from BrainGen3DLib.logic import GenerationLogic, GenerationSettings
from BrainGen3DLib.process import RunStatus, WorkerRunner
from BrainGen3DLib.warm_worker import WarmProcess, session_for, shutdown_warm_workers, worker_process

pytestmark = pytest.mark.slow

WORKER = [sys.executable, "-m", "braingen3d.worker"]


@pytest.fixture
def warm_logic(scene, work_root):
    logic = GenerationLogic(scene=scene, worker_command=WORKER, use_timer=False, work_root=work_root)
    yield logic
    shutdown_warm_workers()


def _settings(bundle, **kw) -> GenerationSettings:
    return GenerationSettings(prompt="T1-weighted MRI of a man", steps=kw.pop("steps", 2), sampler="ddim",
                              bundle_path=str(bundle), device="cpu", **kw)


def _run(logic, settings, on_event=None, timeout=300.0):
    logic.generate(settings, on_event=on_event)
    return logic.wait(timeout)


def test_later_runs_reuse_the_worker_and_its_loaded_bundle(warm_logic, tiny_bundle, scene):
    logs: list[str] = []

    def log(event: dict) -> None:
        if event["event"] == "log" and event.get("source") != "stderr":  # stderr repeats the log events
            logs.append(event.get("message", ""))

    first = _run(warm_logic, _settings(tiny_bundle, seed=1), log)
    pid = session_for(WORKER).pid
    second = _run(warm_logic, _settings(tiny_bundle, seed=2), log)
    assert first.status == second.status == RunStatus.SUCCEEDED
    assert session_for(WORKER).pid == pid and psutil.pid_exists(pid)
    assert sum("Loading bundle" in line for line in logs) == 1
    assert len(first.result) == len(second.result) == 1
    assert first.result[0].GetAttribute("BrainGen3D.seed") == "1" and second.result[0].GetAttribute("BrainGen3D.seed") == "2"


def test_cancel_mid_denoising_keeps_the_worker_warm_and_the_scene_unchanged(warm_logic, tiny_bundle, scene,
                                                                              scene_snapshot):
    assert _run(warm_logic, _settings(tiny_bundle)).status == RunStatus.SUCCEEDED
    pid = session_for(WORKER).pid
    before = scene_snapshot(scene)
    progress = []
    warm_logic.generate(_settings(tiny_bundle, steps=500), on_event=lambda e: progress.append(e["event"] == "progress"))
    deadline = time.monotonic() + 120
    while not any(progress) and time.monotonic() < deadline:
        warm_logic.poll()
        time.sleep(0.02)
    assert any(progress)
    started = time.monotonic()
    warm_logic.cancel()
    assert not warm_logic.busy and time.monotonic() - started < 2.0
    assert warm_logic.runner.last_outcome.status == RunStatus.CANCELLED
    assert scene_snapshot(scene) == before
    assert session_for(WORKER).pid == pid and psutil.Process(pid).is_running()
    assert _run(warm_logic, _settings(tiny_bundle, seed=3)).status == RunStatus.SUCCEEDED
    assert session_for(WORKER).pid == pid


def test_a_worker_killed_between_or_during_runs_is_reported_and_replaced(warm_logic, tiny_bundle, scene,
                                                                          scene_snapshot):
    assert _run(warm_logic, _settings(tiny_bundle)).status == RunStatus.SUCCEEDED
    first_pid = session_for(WORKER).pid
    psutil.Process(first_pid).kill()
    time.sleep(0.5)
    assert _run(warm_logic, _settings(tiny_bundle, seed=4)).status == RunStatus.SUCCEEDED  # a fresh worker
    second_pid = session_for(WORKER).pid
    assert second_pid != first_pid
    before = scene_snapshot(scene)
    warm_logic.generate(_settings(tiny_bundle, steps=500))
    deadline = time.monotonic() + 120
    while session_for(WORKER).last_event_time < time.monotonic() - 0.5 and time.monotonic() < deadline:
        warm_logic.poll()
        time.sleep(0.05)
    psutil.Process(second_pid).kill()  # crash mid-run
    outcome = warm_logic.wait(60)
    assert outcome.status == RunStatus.FAILED and outcome.error_kind == "crash"
    assert "killed by signal" in outcome.message
    assert scene_snapshot(scene) == before


def test_another_bundle_restarts_the_worker(warm_logic, tiny_bundle, tmp_path):
    from braingen3d.bundle import make_random_bundle

    other = make_random_bundle(tmp_path / "other", preset="tiny", seed=1)
    assert _run(warm_logic, _settings(tiny_bundle)).status == RunStatus.SUCCEEDED
    pid = session_for(WORKER).pid
    assert _run(warm_logic, _settings(other)).status == RunStatus.SUCCEEDED
    assert session_for(WORKER).pid != pid and not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_a_silent_worker_is_stopped_and_reported_as_hung(tmp_path):
    silent = [sys.executable, "-c", "import sys, time; sys.stdin.readline(); time.sleep(120)"]
    runner = WorkerRunner(process_factory=lambda command, env=None: WarmProcess(command, env, hang_seconds=1.0))
    try:
        runner.start(silent, {"task": "probe"}, handlers=_no_handlers())
        outcome = runner.wait(30)
        assert outcome.status == RunStatus.FAILED and "sent nothing for 1 s" in outcome.message
        assert not session_for(silent).alive()
    finally:
        shutdown_warm_workers()


def test_commands_other_than_the_engine_worker_stay_one_shot():
    from BrainGen3DLib.process import JsonLinesProcess

    assert isinstance(worker_process([sys.executable, "standin.py"]), JsonLinesProcess)
    assert isinstance(worker_process(WORKER), WarmProcess)


def _no_handlers():
    from BrainGen3DLib.process import RunHandlers

    return RunHandlers()
