"""Export logic and the worker's export requests, without running a model (the real export runs in
test_slicer_lesion_real_worker.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import lesion_phantoms as ph
import numpy as np
import pytest

from BrainGen3DLib import export_logic
from BrainGen3DLib.export_logic import ExportLogic, ExportSettings, label_from_segmentation, planned_files
from BrainGen3DLib.logic import SettingsError
from BrainGen3DLib.process import ProcessState

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"formats": []}, "at least one format"),
        ({"formats": ["nifti", "mha"]}, "Unknown export format mha"),
        ({"modality": "CT"}, "Unknown modality 'CT'"),
        ({"folder": ""}, "Choose the folder"),
    ],
)
def test_settings_name_the_problem(changes, words, tmp_path):
    with pytest.raises(SettingsError, match=words):
        ExportSettings(**{"folder": str(tmp_path), **changes}).validate()


def test_a_file_is_not_an_export_folder(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(SettingsError, match="is a file"):
        ExportSettings(folder=str(tmp_path / "taken")).validate()


def test_each_format_has_its_own_folder_so_sidecars_never_collide(tmp_path):
    files = {f: planned_files(tmp_path, "case", f, with_label=True) for f in ("nifti", "nrrd", "dicom")}
    assert [p.relative_to(tmp_path).as_posix() for p in files["nifti"]] == [
        "nifti/case.nii.gz", "nifti/case.json", "nifti/case_label.nii.gz", "nifti/case_label.json"]
    assert [p.relative_to(tmp_path).as_posix() for p in files["nrrd"]] == [
        "nrrd/case.nrrd", "nrrd/case.json", "nrrd/case_label.seg.nrrd"]
    assert [p.relative_to(tmp_path).as_posix() for p in files["dicom"]] == ["dicom/case/image",
                                                                         "dicom/case/segmentation.dcm"]
    everything = [p for group in files.values() for p in group]
    assert len(everything) == len(set(everything))


def test_only_synthetic_volumes_are_exported(scene, tmp_path, work_root):
    real = ph.add_volume(scene, "ras", name="patient scan")
    logic = ExportLogic(scene=scene, job_command=["/nonexistent"], use_timer=False, work_root=work_root)
    with pytest.raises(SettingsError, match="no real scan is ever labelled synthetic"):
        logic.export(real, None, ExportSettings(folder=str(tmp_path)))
    assert logic.state == ProcessState.IDLE and list(work_root.iterdir()) == []


def test_every_segment_becomes_label_one_on_the_volume_grid(scene):
    volume = ph.add_volume(scene, "oblique")
    affine = ph.volume_affine(volume)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "lesions")
    first = segmentation.GetSegmentation().AddEmptySegment("a")
    second = segmentation.GetSegmentation().AddEmptySegment("b")
    one = ph.paint_sphere(segmentation, first, ph.SHAPE, affine, ph.LESION_SITE, 6.0)
    two = ph.paint_sphere(segmentation, second, ph.SHAPE, affine, ph.BRAIN_CENTRE, 5.0)
    label = label_from_segmentation(volume, segmentation)
    assert label.dtype == np.uint8 and set(np.unique(label)) == {0, 1}
    assert np.array_equal(label == 1, one | two)
    empty = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "nothing")
    with pytest.raises(SettingsError, match="'nothing' has no segments"):
        label_from_segmentation(volume, empty)


def test_dicom_needs_the_export_extra_and_nothing_else(monkeypatch):
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["export"]
    assert set(export_logic.DICOM_REQUIREMENTS) == {r for r in extra if not r.startswith("SimpleITK")}
    from BrainGen3DLib.dependencies import InstallPlan

    monkeypatch.setattr(export_logic, "plan_installation", lambda: InstallPlan())
    monkeypatch.setattr(export_logic, "is_satisfied", lambda requirement: False)
    assert export_logic.export_dependency_plan(["nifti"]).packages == []
    assert export_logic.export_dependency_plan(["nifti", "dicom"]).packages == list(export_logic.DICOM_REQUIREMENTS)


def test_the_worker_exports_one_format_after_the_other_with_the_panels_settings():
    from braingen3d.worker.protocol import ExportTask
    from braingen3d.worker.tasks import export_requests

    exports = [{"format": "dicom", "output": "/out/dicom/v"}, {"format": "nrrd", "output": "/out/nrrd/v.nrrd"}]
    dicom, nrrd = export_requests(ExportTask(volume="/in/v.nii", mask="/in/m.nii", modality="T2", overwrite=True,
                                             exports=exports))
    assert (dicom.volume, dicom.format, dicom.output, dicom.mask, dicom.modality, dicom.overwrite) == (
        Path("/in/v.nii"), "dicom", Path("/out/dicom/v"), Path("/in/m.nii"), "T2", True)
    assert nrrd.modality is None  # the DICOM contrast applies to DICOM only
    (plain,) = export_requests(ExportTask(volume="/in/v.nii", exports=exports[1:]))
    assert (plain.format, plain.output, plain.mask, plain.overwrite) == ("nrrd", Path("/out/nrrd/v.nrrd"), None, False)


def _worker(request_text: str) -> tuple[int, list[dict]]:
    result = subprocess.run([sys.executable, "-m", "braingen3d.worker"], input=request_text, capture_output=True,
                            text=True, timeout=120)
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    "request_text, words",
    [
        ("not json", "not valid JSON"),
        (json.dumps({"task": "export", "volume": "/v.nii", "exports": []}), "non-empty list"),
        (json.dumps({"task": "export", "volume": "/v.nii", "exports": [{"format": "png", "output": "/o"}]}), "'format'"),
    ],
)
def test_the_worker_refuses_a_bad_export_request(request_text, words):
    code, events = _worker(request_text)
    assert code == 1
    assert [e["event"] for e in events] == ["started", "error"]
    assert events[1]["kind"] == "invalid_input" and words in events[1]["message"]


def test_the_worker_names_the_format_and_the_engines_reason(tmp_path):
    real = tmp_path / "scan.nii.gz"
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)), str(real))
    request = {"task": "export", "volume": str(real), "exports": [{"format": "nifti", "output": str(tmp_path / "o" / "x.nii.gz")}]}
    code, events = _worker(json.dumps(request))
    assert code == 1 and events[-1]["kind"] == "invalid_input"
    assert events[-1]["message"].startswith("nifti export failed: ") and "carries no BrainGen3D provenance" in events[-1]["message"]
    assert not (tmp_path / "o").exists()  # the folder it made for the output is gone again


def test_the_panel_process_never_imports_torch():
    """Everything the lesion and export sections run in Slicer's own process, imported and used without torch."""
    module_dir = REPO / "BrainGen3D"
    script = (
        "import sys; sys.path.insert(0, %r)\n"
        "import BrainGen3DLib.lesion_logic, BrainGen3DLib.lesion_import, BrainGen3DLib.export_logic\n"
        "import BrainGen3DLib.lesion_mask, BrainGen3DLib.nifti_files, BrainGen3DLib.logic, BrainGen3DLib.lesion_logic\n"
        "from BrainGen3DLib.lesion_import import lesion_segment_spec\n"
        "lesion_segment_spec()\n"
        "BrainGen3DLib.logic.GenerationSettings(prompt='T1').to_request('/tmp/out')\n"
        "BrainGen3DLib.lesion_logic.InpaintSettings(prompt='a lesion').to_request('/v.nii', '/m.nii', '/tmp/out')\n"
        "print(sorted(m for m in ('torch', 'monai', 'braingen3d.pipelines.generation') if m in sys.modules))\n" % str(module_dir))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
