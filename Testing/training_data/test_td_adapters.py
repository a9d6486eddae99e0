"""Dataset adapters on small fake trees that mimic the real IXI, OASIS-1 and BIDS layouts."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from braingen3d.core.errors import InvalidInputError
from training.data.adapters import bids_rows, ixi_rows, oasis1_rows, read_ixi_demographics
from training.data.adapters.__main__ import main as adapters_main
from training.data.adapters.common import assign_split
from training.data.manifest import read_manifest


def _nifti(path, shape=(4, 4, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4)), path)


IXI_CSV = (
    "IXI_ID,\"SEX_ID (1=m, 2=f)\",HEIGHT,WEIGHT,ETHNIC_ID,MARITAL_ID,OCCUPATION_ID,QUALIFICATION_ID,DOB,DATE_AVAILABLE,STUDY_DATE,AGE\n"
    "2,2,164,58,1,4,1,5,1970-01-30,1,2005-11-18,35.80\n"
    "12,1,175,70,1,2,1,5,1966-08-20,1,2005-06-01,38.78\n"
    "12,1,175,70,1,2,1,5,1966-08-20,1,2005-06-01,38.78\n"  # IXI.xls repeats some IDs
    "13,0,0,0,0,0,0,0,,0,,\n"  # zeros mean unknown
)


@pytest.fixture()
def ixi_tree(tmp_path):
    root = tmp_path / "IXI"
    for name in ("IXI-T1/IXI002-Guys-0828-T1.nii.gz", "IXI-T2/IXI002-Guys-0828-T2.nii.gz", "IXI-PD/IXI002-Guys-0828-PD.nii.gz",
                 "IXI-T1/IXI012-HH-1211-T1.nii.gz", "IXI-T1/IXI013-HH-1212-T1.nii.gz", "IXI-T1/IXI099-IOP-0999-T1.nii.gz",
                 "IXI-MRA/IXI002-Guys-0828-MRA.nii.gz"):
        _nifti(root / name)
    (root / "IXI.csv").write_text(IXI_CSV)
    return root


def test_ixi_demographics_merge_duplicates_and_zeros(ixi_tree):
    table = read_ixi_demographics(ixi_tree / "IXI.csv")
    assert table[2] == (pytest.approx(35.8), "F")
    assert table[12] == (pytest.approx(38.78), "M")
    assert table[13] == (None, None)


def test_ixi_rows(ixi_tree, tmp_path):
    rows = ixi_rows(ixi_tree, ixi_tree / "IXI.csv", tmp_path, test_fraction=0.0)
    by_key = {(r["subject_id"], r["modality"]): r for r in rows}
    assert set(by_key) == {("IXI002-Guys-0828", "T1"), ("IXI002-Guys-0828", "T2"), ("IXI002-Guys-0828", "PD"),
                           ("IXI012-HH-1211", "T1"), ("IXI013-HH-1212", "T1"), ("IXI099-IOP-0999", "T1")}  # no MRA
    assert by_key[("IXI002-Guys-0828", "T2")]["image"] == "IXI/IXI-T2/IXI002-Guys-0828-T2.nii.gz"
    assert by_key[("IXI002-Guys-0828", "T1")]["sex"] == "F" and by_key[("IXI002-Guys-0828", "T1")]["age"] == "35.8"
    assert by_key[("IXI099-IOP-0999", "T1")]["age"] == "" and by_key[("IXI013-HH-1212", "T1")]["sex"] == ""
    assert all(r["dataset"] == "IXI" and r["split"] == "train" for r in rows)


def test_ixi_errors(ixi_tree, tmp_path):
    (tmp_path / "bad.csv").write_text("ID,AGE\n1,30\n")
    with pytest.raises(InvalidInputError, match="IXI_ID"):
        read_ixi_demographics(tmp_path / "bad.csv")
    (tmp_path / "IXI.xls").write_bytes(b"not a spreadsheet")
    with pytest.raises(InvalidInputError, match="xlrd|CSV"):
        read_ixi_demographics(tmp_path / "IXI.xls")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="No IXI"):
        ixi_rows(tmp_path / "empty", ixi_tree / "IXI.csv", tmp_path)


def _analyze(path, value=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.AnalyzeImage(np.full((4, 5, 4), value, np.int16), np.eye(4)), path)


def test_oasis1_rows(tmp_path):
    root = tmp_path / "OASIS"
    for disc, session, n in (("disc1", "OAS1_0001_MR1", 4), ("disc1", "OAS1_0002_MR1", 3), ("disc2", "OAS1_0002_MR2", 3), ("disc2", "OAS1_0003_MR1", 4)):
        folder = root / disc / session
        _analyze(folder / "PROCESSED/MPRAGE/T88_111" / f"{session}_mpr_n{n}_anon_111_t88_masked_gfc.img")
        _analyze(folder / "PROCESSED/MPRAGE/T88_111" / f"{session}_mpr_n{n}_anon_111_t88_gfc.img")
        if session != "OAS1_0003_MR1":
            _analyze(folder / "FSL_SEG" / f"{session}_mpr_n{n}_anon_111_t88_masked_gfc_fseg.img", 2)
    (root / "disc2/OAS1_0004_MR1/RAW").mkdir(parents=True)  # a session without processed data
    table = root / "oasis_cross-sectional.csv"
    table.write_text("ID,M/F,Hand,Age,Educ,SES,MMSE,CDR,eTIV,nWBV,ASF,Delay\n"
                     "OAS1_0001_MR1,F,R,74,2,3,29,0,1344,0.743,1.306,N/A\n"
                     "OAS1_0002_MR1,F,R,55,4,1,29,0,1147,0.81,1.531,N/A\n"
                     "OAS1_0002_MR2,F,R,55,4,1,29,0,1147,0.81,1.531,12\n")
    rows = oasis1_rows(root, table, tmp_path, test_fraction=0.5, seed=3)
    assert [r["subject_id"] for r in rows] == ["OAS1_0001_MR1", "OAS1_0002_MR1", "OAS1_0002_MR2", "OAS1_0003_MR1"]
    first = rows[0]
    assert first["image"] == "OASIS/disc1/OAS1_0001_MR1/PROCESSED/MPRAGE/T88_111/OAS1_0001_MR1_mpr_n4_anon_111_t88_masked_gfc.img"
    assert first["tissue_map"].endswith("FSL_SEG/OAS1_0001_MR1_mpr_n4_anon_111_t88_masked_gfc_fseg.img")
    assert (first["age"], first["sex"], first["modality"], first["dataset"]) == ("74", "F", "T1", "OASIS-1")
    assert rows[3]["age"] == "" and rows[3]["tissue_map"] == ""
    assert rows[1]["split"] == rows[2]["split"]  # repeat sessions stay with their subject
    unmasked = oasis1_rows(root, table, tmp_path, masked=False)
    assert unmasked[0]["image"].endswith("_t88_gfc.img")
    # The written manifest reads back, and Analyze images load through it.
    assert adapters_main(["oasis1", str(root), "--table", str(table), "--out", str(tmp_path / "m.csv")]) == 0
    assert nib.load(read_manifest(tmp_path / "m.csv", check_files=True)[0]["image"]).shape == (4, 5, 4)


def test_bids_rows(tmp_path):
    root = tmp_path / "ds"
    (root / "dataset_description.json").parent.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "Demo BIDS", "BIDSVersion": "1.8.0"}))
    (root / "participants.tsv").write_text("participant_id\tage\tsex\nsub-01\t34\tM\nsub-02\tn/a\tfemale\nsub-03\t61\tF\n")
    for name in ("sub-01/anat/sub-01_T1w.nii.gz", "sub-01/anat/sub-01_T2w.nii.gz", "sub-01/anat/sub-01_ce-gadolinium_T1w.nii.gz",
                 "sub-02/ses-1/anat/sub-02_ses-1_run-1_T1w.nii.gz", "sub-02/ses-1/anat/sub-02_ses-1_FLAIR.nii",
                 "sub-03/anat/sub-03_PDw.nii.gz", "sub-03/anat/sub-03_T1w.json", "sub-03/func/sub-03_task-rest_bold.nii.gz",
                 "derivatives/fmriprep/sub-01/anat/sub-01_T1w.nii.gz"):
        if name.endswith(".json"):
            (root / name).write_text("{}")
        else:
            _nifti(root / name)
    (root / "sub-02/sub-02_sessions.tsv").write_text("session_id\tage\nses-1\t47.5\n")
    rows = bids_rows(root, tmp_path, test_fraction=0.0)
    got = sorted((r["subject_id"], r["modality"], r["age"], r["sex"]) for r in rows)
    assert got == [("sub-01", "T1", "34", "M"), ("sub-01", "T2", "34", "M"), ("sub-02", "FLAIR", "47.5", "F"),
                   ("sub-02", "T1", "47.5", "F"), ("sub-03", "PD", "61", "F")]
    assert {r["dataset"] for r in rows} == {"Demo BIDS"}
    assert not any("derivatives" in r["image"] or "ce-" in r["image"] for r in rows)
    with pytest.raises(InvalidInputError, match="not a BIDS dataset"):
        bids_rows(tmp_path / "nothing", tmp_path)


def test_split_is_stable_and_close_to_the_fraction():
    names = [f"sub-{i:04d}" for i in range(2000)]
    splits = [assign_split(n, 0.1, seed=1) for n in names]
    assert 0.07 < splits.count("test") / len(names) < 0.13
    assert splits == [assign_split(n, 0.1, seed=1) for n in names]
    assert splits != [assign_split(n, 0.1, seed=2) for n in names]


def test_cli_refuses_to_overwrite(ixi_tree, tmp_path):
    out = tmp_path / "m.csv"
    out.write_text("keep\n")
    assert adapters_main(["ixi", str(ixi_tree), "--demographics", str(ixi_tree / "IXI.csv"), "--out", str(out)]) == 2
    assert out.read_text() == "keep\n"
    assert adapters_main(["ixi", str(ixi_tree), "--demographics", str(ixi_tree / "IXI.csv"), "--out", str(out), "--overwrite"]) == 0
    assert len(read_manifest(out, check_files=True)) == 6
