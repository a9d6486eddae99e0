"""Process runner edge cases, device detection and bundle cards."""

from __future__ import annotations

import builtins
import json
import subprocess
import sys
import time

import psutil
import pytest
from bg3d_gui import fake_probe_command, write_fake_bundle

from BrainGen3DLib.bundle_card import BundleCardError, card_html, default_bundle_folder, read_bundle_card
from BrainGen3DLib.devices import DeviceInfo, DeviceProbe
from BrainGen3DLib.process import JsonLinesProcess, RunHandlers, RunStatus, WorkerRunner, kill_process_tree


def python_command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def run(code: str, timeout: float = 20):
    runner = WorkerRunner()
    events = []
    runner.start(python_command(code), {"task": "generate"}, RunHandlers(on_event=events.append))
    return runner.wait(timeout), events


def test_the_request_arrives_on_stdin_and_stdin_is_closed():
    outcome, events = run("import sys, json; r = json.loads(sys.stdin.readline()); assert sys.stdin.read() == ''; "
                          "print(json.dumps({'event': 'log', 'level': 'info', 'message': r['task']})); "
                          "print(json.dumps({'event': 'result', 'outputs': [{'path': 'x'}]}))")
    assert outcome.status == RunStatus.SUCCEEDED
    assert outcome.result == [{"path": "x"}]
    assert [e["message"] for e in events if e["event"] == "log"] == ["generate"]


@pytest.mark.parametrize(
    "code, kind, text",
    [
        ("print('{\"event\": \"result\", \"outputs\": [{\"no_path\": 1}]}')", "protocol", "malformed result"),
        ("print('{\"event\": \"error\", \"kind\": \"weird\", \"message\": \"boom\"}')", "internal", "boom"),
        ("print('[1, 2]'); print('{\"event\": \"done\"}')", "protocol", "without sending a result"),
    ],
)
def test_protocol_problems_are_failures_with_a_message(code, kind, text):
    outcome, _ = run(code)
    assert outcome.status == RunStatus.FAILED and outcome.error_kind == kind and text in outcome.message


def test_an_error_event_wins_over_a_result():
    outcome, _ = run("print('{\"event\": \"result\", \"outputs\": []}'); "
                     "print('{\"event\": \"error\", \"kind\": \"bundle\", \"message\": \"bad weights\"}')")
    assert outcome.status == RunStatus.FAILED and outcome.error_kind == "bundle"


def test_kill_without_psutil_uses_the_process_group(monkeypatch):
    """Where psutil is missing, the child's session (process group) still takes its descendants down."""
    code = ("import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print(c.pid, flush=True); time.sleep(60)")
    popen = subprocess.Popen(python_command(code), stdout=subprocess.PIPE, text=True, start_new_session=True)
    grandchild = int(popen.stdout.readline())
    real_import = builtins.__import__

    def no_psutil(name, *args, **kwargs):
        if name == "psutil":
            raise ImportError("psutil hidden for this test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psutil)
    started = time.monotonic()
    kill_process_tree(popen)
    monkeypatch.undo()
    assert time.monotonic() - started < 2.0
    assert popen.poll() is not None
    deadline = time.monotonic() + 2
    while psutil.pid_exists(grandchild) and psutil.Process(grandchild).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the grandchild survived"
        time.sleep(0.05)


def test_json_lines_process_turns_stray_output_into_log_events():
    process = JsonLinesProcess(python_command("import sys; print('hello'); print('{\"event\": 3}'); "
                                              "print('oops', file=sys.stderr); sys.exit(4)"))
    process.start({})
    events = []
    deadline = time.monotonic() + 20
    while not events or events[-1]["event"] != "exit":
        events += process.events()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert {"event": "log", "level": "info", "message": "hello", "source": "stdout"} in events
    assert {"event": "log", "level": "info", "message": '{"event": 3}', "source": "stdout"} in events
    assert {"event": "log", "level": "debug", "message": "oops", "source": "stderr"} in events
    assert events[-1] == {"event": "exit", "returncode": 4}


def probe(command) -> DeviceInfo:
    found = []
    device_probe = DeviceProbe(command)
    device_probe.start(found.append)
    deadline = time.monotonic() + 30
    while not found:
        device_probe.poll()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return found[0]


def test_device_probe_reads_the_worker_probe_answer():
    info = probe(fake_probe_command())
    assert info == DeviceInfo(cuda_available=False, cuda_devices=[], torch_version="2.13.0+cpu", cpu_threads=2,
                              engine_version="0.1.0")
    assert info.summary() == "CPU only, 2 threads (torch 2.13.0+cpu)"
    cuda = DeviceInfo.from_probe_output({"devices": {"cuda_available": True, "cuda_devices": ["NVIDIA A40"],
                                                     "torch": "2.13.0+cu128"}})
    assert cuda.summary() == "CUDA: NVIDIA A40 (torch 2.13.0+cu128)"


def test_device_probe_explains_a_missing_engine():
    info = probe(python_command("import sys; sys.stdin.read(); import some_missing_module_bg3d"))
    assert info.error == "ModuleNotFoundError: No module named 'some_missing_module_bg3d'"
    info = probe(python_command("import sys; sys.stdin.read(); "
                                "sys.exit('ModuleNotFoundError: No module named braingen3d')"))
    assert info.summary() == "Not detected: the engine is not installed yet; it is installed on the first Generate"


def test_bundle_card_reads_config_and_model_card(tmp_path):
    card = read_bundle_card(write_fake_bundle(tmp_path / "b"))
    assert (card.bundle_id, card.version, card.shape, card.spacing) == ("braingen3d-small-mni2mm", "1.0.0",
                                                                        [80, 96, 80], [2.0, 2.0, 2.0])
    assert card.weights == ["autoencoder.safetensors", "unet.safetensors"]
    text = card_html(card)
    assert "80 × 96 × 80 @ 2 mm" in text and "template-derived synthetic cohort" in text
    assert "<script>" not in card_html(read_bundle_card(_with_config(tmp_path / "x", name="<script>")))
    emphasised = write_fake_bundle(tmp_path / "e")
    (emphasised / "README.md").write_text("# Card\n\nA model for **synthetic** MRI on a `2 mm` grid.\n")
    assert "<i>A model for synthetic MRI on a 2 mm grid.</i>" in card_html(read_bundle_card(emphasised))


@pytest.mark.parametrize("scale, line", [(3.0, "Structure guidance:</b> weight 3 by default"),
                                         (0.0, "Structure guidance:</b> off by default")])
def test_bundle_card_states_the_default_structure_guidance(tmp_path, scale, line):
    plain = read_bundle_card(write_fake_bundle(tmp_path / "plain"))
    assert plain.structure_guidance_scale is None and "Structure guidance" not in card_html(plain)
    guided = _with_config(tmp_path / "g", capabilities={"structure_guidance": True},
                          structure_guidance={"guidance_scale": scale})
    card = read_bundle_card(guided)
    assert card.structure_guidance_scale == scale and line in card_html(card)


def _with_config(folder, **fields):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"bundle_id": "b", **fields}))
    return folder


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: p, "has no config.json"),
        (lambda p: (p / "config.json").write_text("{not json") and p, "is not a valid bundle config"),
        (lambda p: (p / "config.json").write_text("[1, 2]") and p, "is not a valid bundle config"),
        (lambda p: (p / "config.json").write_text('{"version": "1"}') and p, "is not a valid bundle config"),
        (lambda p: ".", "No bundle folder is chosen"),
    ],
)
def test_bad_bundle_folders_say_what_is_wrong(tmp_path, setup, message):
    with pytest.raises(BundleCardError, match=message):
        read_bundle_card(setup(tmp_path))


def test_default_bundle_follows_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINGEN3D_BUNDLE", str(write_fake_bundle(tmp_path / "b")))
    assert default_bundle_folder() == tmp_path / "b"
    monkeypatch.setenv("BRAINGEN3D_BUNDLE", str(tmp_path / "nothing"))
    assert default_bundle_folder() is None


def test_importing_slicer_does_not_import_these_tests():
    """Testing/slicer is on slicer's __path__ when Testing/ is on sys.path; it must hold no modules."""
    output = subprocess.run([sys.executable, "-c", "import slicer, sys; "
                             "print(sorted(m for m in sys.modules if m.startswith('slicer.')))"],
                            env={"PYTHONPATH": str(__import__('pathlib').Path(__file__).parents[2])},
                            capture_output=True, text=True, check=True).stdout
    assert "test" not in output and "conftest" not in output and "bg3d" not in output
