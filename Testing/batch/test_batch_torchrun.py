"""torchrun with 2 CPU processes: the ranks split the plan, every case is written once, results match one process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from Testing.batch.batch_helpers import batch_args, read_json

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_two_ranks_write_the_plan_exactly_once(batch_dataset, tiny_bundle, tmp_path):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    root = tmp_path / "nnUNet_raw"
    args = batch_args(tiny_bundle, root, 4, 501, "SynthTest")[1:]  # not -q: the per-case log lines are checked
    # Each rank gets this process's thread count, so its reductions run in the same order as the
    # in-process fixture's and the volumes can be compared exactly.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": str(torch.get_num_threads())}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "braingen3d.cli.main", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    folder = root / "Dataset501_SynthTest"

    # Each case was written by exactly one rank, the one that owns it (index % 2).
    written = re.findall(r"Case (synth_\d{4}) written \(\d+/\d+ on rank (\d)/2", completed.stderr)
    assert sorted(written) == [(f"synth_{k:04d}", str(k % 2)) for k in range(4)], completed.stderr[-4000:]
    for k in range(4):
        record = read_json(folder / "provenance" / f"synth_{k:04d}.json")
        assert (record["batch"]["rank"], record["batch"]["world_size"]) == (k % 2, 2)
    assert read_json(folder / "dataset.json")["numTraining"] == 4
    assert completed.stdout.count("planned cases are finished") == 1, "only rank 0 reports"
    verify_dataset_integrity(str(folder), num_processes=1)

    # The same plan made by one process (the session fixture) gives the same cases: seeds, not ranks, decide.
    for k in range(4):
        case = f"synth_{k:04d}"
        mine, single = read_json(folder / "provenance" / f"{case}.json"), read_json(batch_dataset / "provenance" / f"{case}.json")
        assert mine["batch"]["case_digest"] == single["batch"]["case_digest"]
        assert mine["lesions"]["placed"] == single["lesions"]["placed"]
        ours = np.asarray(nib.load(folder / "imagesTr" / f"{case}_0000.nii.gz").dataobj)
        theirs = np.asarray(nib.load(batch_dataset / "imagesTr" / f"{case}_0000.nii.gz").dataobj)
        # With another thread count the sums reduce in another order; under bf16 autocast on an AMX CPU
        # that moved these random-weight volumes by 5% of their mean (measured), so the threads match.
        assert np.array_equal(ours, theirs)
        assert np.array_equal(np.asarray(nib.load(folder / "labelsTr" / f"{case}.nii.gz").dataobj),
                              np.asarray(nib.load(batch_dataset / "labelsTr" / f"{case}.nii.gz").dataobj))
