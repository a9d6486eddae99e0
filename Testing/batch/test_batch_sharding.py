"""Sharding over torchrun ranks: every case has exactly one owner, read from the environment."""

from __future__ import annotations

import pytest

from braingen3d.batch import Shard
from braingen3d.core.errors import InvalidInputError
from Testing.batch.batch_helpers import make_plan


@pytest.mark.parametrize("world", [1, 2, 3, 4, 7])
def test_shards_partition_the_plan(world):
    plan = make_plan(17)
    shards = [Shard(rank, world).select(plan.cases) for rank in range(world)]
    ids = [c.case_id for shard in shards for c in shard]
    assert sorted(ids) == [c.case_id for c in plan.cases]  # no case lost, none twice
    assert len(set(ids)) == len(ids)
    for rank, shard in enumerate(shards):
        assert all(c.index % world == rank for c in shard)
        assert abs(len(shard) - len(plan) / world) < 1  # balanced


def test_shard_from_torchrun_environment():
    assert Shard.from_env({}) == Shard(0, 1, 0)
    assert Shard.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Shard(3, 4, 1)
    assert Shard.from_env({"RANK": "1", "WORLD_SIZE": "2"}).local_rank == 1
    with pytest.raises(InvalidInputError, match="RANK=4"):
        Shard.from_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(InvalidInputError, match="not a whole number"):
        Shard.from_env({"RANK": "zero", "WORLD_SIZE": "2"})


def test_device_per_rank_without_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Shard(1, 2, 1).device("auto") == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert Shard(3, 4, 1).device("auto") == "cuda:1"
    assert Shard(2, 4, 2).device("cuda") == "cuda:0"
    assert Shard(1, 2, 1).device("cpu") == "cpu"
    assert Shard(1, 2, 1).device("cuda:0") == "cuda:0"


def test_followers_take_rank_0s_verdict(monkeypatch, tmp_path):
    """Rank 0 opens with the user's mode and broadcasts its error; the others never apply the mode themselves."""
    import torch.distributed as dist

    from braingen3d.batch.coordination import open_dataset
    from braingen3d.core.errors import OutputExistsError

    sent: list = []
    monkeypatch.setattr(dist, "broadcast_object_list", lambda objects, src: sent.append(list(objects)))
    opened: list[str] = []

    def refuse(mode):
        opened.append(mode)
        raise OutputExistsError("folder exists; pass --resume or --overwrite")

    with pytest.raises(OutputExistsError):
        open_dataset(refuse, "new", Shard(0, 2, 0))
    assert opened == ["new"] and sent == [[("OutputExistsError", "folder exists; pass --resume or --overwrite")]]

    def receive(objects, src):
        objects[0] = ("OutputExistsError", "folder exists; pass --resume or --overwrite")

    monkeypatch.setattr(dist, "broadcast_object_list", receive)
    opened.clear()
    with pytest.raises(OutputExistsError, match="rank 0 could not open the dataset: folder exists"):
        open_dataset(lambda mode: opened.append(mode), "new", Shard(1, 2, 1))
    assert opened == [], "a follower does not open the dataset after rank 0 failed"

    monkeypatch.setattr(dist, "broadcast_object_list", lambda objects, src: None)  # rank 0 succeeded
    assert open_dataset(lambda mode: mode, "overwrite", Shard(1, 2, 1)) == "resume"
