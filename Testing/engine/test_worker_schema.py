"""The worker checks a request's schema and answers ``invalid_input`` naming the field, never ``internal``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from braingen3d.core.errors import InvalidInputError
from braingen3d.worker.protocol import ProtocolError, read_request
from braingen3d.worker.tasks import run_task


def run_worker(payload: str) -> tuple[int, list[dict]]:
    result = subprocess.run([sys.executable, "-m", "braingen3d.worker"], input=payload, capture_output=True, text=True,
                            timeout=120)
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("text, words", [
    ('{"task": ["generate"], "output_dir": "o"}', "field 'task' is list, expected str"),
    ('{"task": {"a": 1}}', "field 'task' is object"),
    ('{"task": "generate", "output_dir": "o", "num_volumes": "two"}', "field 'num_volumes' is str, expected int"),
    ('{"task": "generate", "output_dir": "o", "steps": 2.5}', "field 'steps' is float, expected int"),
    ('{"task": "generate", "output_dir": ["o"]}', "field 'output_dir' is list, expected str"),
    ('{"task": "generate", "output_dir": "o", "guidence": 3}', "unknown field(s) ['guidence']"),
    ('{"output_dir": "o"}', "has no 'task'"),
    ('[1, 2]', "must be a JSON object, not list"),
    ("", "The request is empty"),
    ("  \n", "The request is empty"),
    ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
])
def test_malformed_requests_are_protocol_errors_naming_the_field(text, words):
    with pytest.raises(ProtocolError) as caught:
        read_request(text)
    assert words in str(caught.value) and caught.value.kind == "invalid_input"


@pytest.mark.parametrize("make_dir, words", [
    (lambda tmp: tmp / "afile", "is a file"),
    (lambda tmp: tmp / "afile" / "below", "is a file"),
])
def test_an_output_dir_that_is_a_file_is_invalid_input_naming_the_field(tiny_bundle, tmp_path, monkeypatch,
                                                                         make_dir, words):
    import braingen3d.pipelines.generation as generation

    monkeypatch.setattr(generation.BrainGenPipeline, "from_bundle", lambda *a, **k: pytest.fail("model loaded"))
    (tmp_path / "afile").write_text("x")
    request = read_request(json.dumps({"task": "generate", "output_dir": str(make_dir(tmp_path)), "prompt": "T1 MRI",
                                       "bundle": str(tiny_bundle)}))
    with pytest.raises(InvalidInputError) as caught:
        run_task(request, lambda *a, **k: None)
    assert "'output_dir'" in str(caught.value) and words in str(caught.value)


@pytest.mark.parametrize("payload, words", [
    ("", "The request is empty"),
    ('{"task": ["generate"]}', "field 'task' is list"),
    ('{"task": "generate", "output_dir": "o", "num_volumes": "two"}', "'num_volumes'"),
])
def test_the_worker_process_answers_invalid_input(payload, words):
    code, events = run_worker(payload)
    assert code == 1 and events[-1]["event"] == "error"
    assert events[-1]["kind"] == "invalid_input" and words in events[-1]["message"]


def test_worker_refuses_infinite_guidance_before_loading(tiny_bundle, tmp_path, monkeypatch):
    import braingen3d.pipelines.generation as generation

    monkeypatch.setattr(generation.BrainGenPipeline, "from_bundle", lambda *a, **k: pytest.fail("model loaded"))
    text = json.dumps({"task": "generate", "output_dir": str(tmp_path / "out"), "prompt": "T1 MRI",
                       "bundle": str(tiny_bundle)})[:-1] + ', "guidance": Infinity}'
    with pytest.raises(InvalidInputError, match="guidance must be a finite number"):
        run_task(read_request(text), lambda *a, **k: None)
    assert not (tmp_path / "out").exists()
