"""Manifest reader/writer: round trip, path resolution and errors that name row and column."""

from __future__ import annotations

import pytest

from training.data.manifest import COLUMNS, ManifestError, read_manifest, relative_to, write_manifest

HEADER = ",".join(COLUMNS)


def _row(**changes):
    row = {"subject_id": "s1", "image": "images/s1_T1.nii.gz", "modality": "T1", "age": "61.5", "sex": "F",
           "tissue_map": "", "lesion_mask": "", "dataset": "demo", "caption": "", "split": "train"}
    row.update(changes)
    return row


def test_round_trip_resolves_relative_paths_and_keeps_extra_columns(tmp_path):
    rows = [_row(ventricles_ml="23.5"), _row(subject_id="s2", image="/abs/s2.nii.gz", sex="male", split="test")]
    write_manifest(tmp_path / "m.csv", rows, extra_columns=["ventricles_ml"])
    read = read_manifest(tmp_path / "m.csv")
    assert read[0]["image"] == str(tmp_path / "images/s1_T1.nii.gz")
    assert read[1]["image"] == "/abs/s2.nii.gz"
    assert read[1]["sex"] == "M"  # normalised spelling
    assert read[0]["ventricles_ml"] == "23.5"
    assert read_manifest(tmp_path / "m.csv", resolve_paths=False)[0]["image"] == "images/s1_T1.nii.gz"


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("s1,a.nii.gz,CT,50,F,,,d,,train", "modality", "'CT' is not one of"),
        ("s1,a.nii.gz,T1,fifty,F,,,d,,train", "age", "not a number"),
        ("s1,a.nii.gz,T1,50,X,,,d,,train", "sex", "Unrecognised sex"),
        ("s1,a.nii.gz,T1,50,F,,,d,,validation", "split", "not one of train"),
        (",a.nii.gz,T1,50,F,,,d,,train", "subject_id", "empty"),
        ("s1,a.nii.gz,T1,150,F,,,d,,train", "age", "outside 0-120"),
    ],
)
def test_bad_cells_are_reported_with_line_and_column(tmp_path, line, column, message):
    path = tmp_path / "m.csv"
    path.write_text(f"{HEADER}\ns0,ok.nii.gz,T2,40,M,,,d,,train\n{line}\n")
    with pytest.raises(ManifestError) as error:
        read_manifest(path)
    text = str(error.value)
    assert "line 3" in text and f"column {column!r}" in text and message in text


def test_missing_header_columns_and_missing_files_are_reported(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("subject_id,image,modality\ns1,a.nii.gz,T1\n")
    with pytest.raises(ManifestError, match="lacks column.*age"):
        read_manifest(path)
    path.write_text(f"{HEADER}\ns1,missing.nii.gz,T1,50,F,,,d,,train\n")
    with pytest.raises(ManifestError, match="line 2, column 'image': file .*missing.nii.gz does not exist"):
        read_manifest(path, check_files=True)
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "nope.csv")


def test_duplicates_extra_cells_and_empty_manifests_are_rejected(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(f"{HEADER}\ns1,a.nii.gz,T1,50,F,,,d,,train\ns1,a.nii.gz,T1,50,F,,,d,,train\n")
    with pytest.raises(ManifestError, match="line 3.*duplicate"):
        read_manifest(path)
    path.write_text(f"{HEADER}\ns1,a.nii.gz,T1,50,F,,,d,,train,surplus\n")
    with pytest.raises(ManifestError, match="more cells"):
        read_manifest(path)
    path.write_text(f"{HEADER}\n")
    with pytest.raises(ManifestError, match="no rows"):
        read_manifest(path)
    with pytest.raises(ManifestError, match="empty manifest"):
        write_manifest(tmp_path / "out.csv", [])


def test_writer_validates_before_touching_the_file(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("precious\n")
    with pytest.raises(ManifestError, match="column 'modality'"):
        write_manifest(path, [_row(), _row(subject_id="s2", modality="MRA")])
    assert path.read_text() == "precious\n"


def test_relative_to(tmp_path):
    assert relative_to(tmp_path / "a" / "b.nii.gz", tmp_path) == "a/b.nii.gz"
    assert relative_to("/elsewhere/b.nii.gz", tmp_path) == "/elsewhere/b.nii.gz"
