"""Finding volumes: modality from names or sidecars, manifests and their splits, and every way it can fail."""

from __future__ import annotations

import json

import eval_phantoms as phantoms
import pytest

from braingen3d.core.errors import InvalidInputError
from braingen3d.evaluation.sources import find_sources


def test_folder_names_and_sidecars(tmp_path):
    volumes = phantoms.cohort(2, 1, ("T1",))
    phantoms.write_volumes(tmp_path, volumes, sidecars={volumes[0][0]: {"age": 71, "sex": "F"}})
    import nibabel as nib

    nib.save(nib.Nifti1Image(volumes[0][2], phantoms.GRID.affine), str(tmp_path / "brain_001.nii.gz"))
    (tmp_path / "brain_001.json").write_text(json.dumps({"prompt": "FLAIR MRI of a 60-year-old man", "seed": 12,
                                                         "evaluation_subject": "syn0240"}))
    sources = {s.path.name: s for s in find_sources(tmp_path, "reference")}
    first = sources[f"{volumes[0][0]}_T1.nii.gz"]
    assert (first.subject, first.modality, first.age, first.sex) == (volumes[0][0], "T1", 71.0, "F")
    generated = sources["brain_001.nii.gz"]
    assert (generated.modality, generated.age, generated.sex, generated.seed) == ("FLAIR", 60.0, "M", 12)
    assert generated.subject == "syn0240"


def test_unreadable_files_are_skipped_and_a_folder_of_them_refused(tmp_path, caplog):
    phantoms.write_volumes(tmp_path, phantoms.cohort(1, 1, ("T2",)))
    (tmp_path / "broken_T1.nii.gz").write_bytes(b"not a volume")
    assert [s.modality for s in find_sources(tmp_path, "reference")] == ["T2"]
    assert "broken_T1.nii.gz" in caplog.text
    empty = tmp_path / "only_broken"
    empty.mkdir()
    (empty / "broken_T1.nii.gz").write_bytes(b"not a volume")
    with pytest.raises(InvalidInputError, match="no readable volumes"):
        find_sources(empty, "reference")


def test_unknown_modality_names_the_fix(tmp_path):
    import nibabel as nib

    nib.save(nib.Nifti1Image(phantoms.cohort(1, 1, ("T1",))[0][2], phantoms.GRID.affine), str(tmp_path / "scan.nii.gz"))
    with pytest.raises(InvalidInputError, match=r"modality of 1 reference volume.*<subject>_<MODALITY>"):
        find_sources(tmp_path, "reference")


def test_manifest_splits(tmp_path):
    phantoms.write_volumes(tmp_path / "images", phantoms.cohort(3, 1, ("T1",)))
    rows = [{"subject_id": f"sub01{i:03d}", "image": f"images/sub01{i:03d}_T1.nii.gz", "modality": "T1", "age": 30 + i,
             "sex": "M", "dataset": "x", "split": "test" if i == 2 else "train"} for i in range(3)]
    manifest = phantoms.write_manifest(tmp_path / "manifest.csv", rows)
    assert [s.subject for s in find_sources(manifest, "reference", None, ("test", "val"))] == ["sub01002"]
    assert len(find_sources(manifest, "training", None, ("train",))) == 2
    assert find_sources(manifest, "reference", None, ("test",))[0].age == 32.0
    with pytest.raises(InvalidInputError, match="no rows with split 'val'"):
        find_sources(manifest, "reference", "val")
    rows[0]["image"] = "images/missing_T1.nii.gz"
    with pytest.raises(InvalidInputError, match=r"line 2, column 'image'.*does not exist"):
        find_sources(phantoms.write_manifest(tmp_path / "bad.csv", rows), "training", None, ("train",))
