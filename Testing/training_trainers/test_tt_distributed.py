"""Two gloo processes on CPU: DDP keeps both ranks' weights identical after a step, and the step changes them."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.multiprocessing as mp

from Testing.training_trainers.tt_helpers import ddp_autoencoder_worker
from training.trainers.sampler import ShardedSampler


def test_two_rank_gloo_step_keeps_ranks_identical(tmp_path: Path, tt_manifest: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    # fork: the children inherit the imported modules (spawn would re-import torch and MONAI, ~10 s each here).
    mp.start_processes(ddp_autoencoder_worker, args=(2, str(tmp_path / "rendezvous"), str(tt_manifest),
                                                     str(tmp_path / "run"), str(results)),
                       nprocs=2, join=True, start_method="fork")
    rank0 = torch.load(results / "rank0.pt", weights_only=True)
    rank1 = torch.load(results / "rank1.pt", weights_only=True)
    for key in ("initial", "autoencoder", "discriminator", "ema"):
        assert rank0[key].keys() == rank1[key].keys()
        assert all(torch.equal(rank0[key][k], rank1[key][k]) for k in rank0[key]), f"ranks differ in {key}"
    assert any(not torch.equal(rank0["initial"][k], rank0["autoencoder"][k]) for k in rank0["initial"])
    # Each rank drew its own shard of the data.
    assert rank0["sampler"]["position"] == rank1["sampler"]["position"] == 2
    # Only rank 0 wrote the checkpoint and logs.
    assert (tmp_path / "run" / "checkpoints" / "checkpoint_last.pt").is_file()


def test_sharded_sampler_partitions_each_epoch() -> None:
    ranks = [ShardedSampler(10, seed=3, rank=r, world_size=3) for r in range(3)]
    drawn = [sampler.next_indices(4) for sampler in ranks]  # an epoch: 10 padded to 12, 4 per rank
    assert set(i for part in drawn for i in part) == set(range(10))
    assert all(len(set(part)) == 4 for part in drawn)
    assert ranks[0].epoch == 0
    again = ShardedSampler(10, seed=3, rank=0, world_size=3)
    again.load_state_dict(ranks[0].state_dict())
    assert again.next_indices(5) == ranks[0].next_indices(5)
    assert ranks[0].epoch == 2  # 4 items finish epoch 1, the 5th starts epoch 2
