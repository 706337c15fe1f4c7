"""Who this process is in a data-parallel run, read from the environment that
torchrun (or netdef's own launcher) sets: RANK, WORLD_SIZE, LOCAL_RANK."""
from __future__ import annotations

import os
from dataclasses import dataclass

from netdef.errors import DistributedError


@dataclass(frozen=True)
class World:
    rank: int = 0         # this process among all (RANK); rank 0 tests, logs and snapshots
    size: int = 1         # number of processes (WORLD_SIZE)
    local_rank: int = 0   # this process among this machine's (LOCAL_RANK): picks its GPU

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def shard(self) -> tuple[int, int]:
        """The data share this process reads (netdef.graph.NetOptions.shard)."""
        return (self.rank, self.size)

    @classmethod
    def from_env(cls, env=None) -> World:
        env = os.environ if env is None else env
        size = _int(env, "WORLD_SIZE", 1)
        rank = _int(env, "RANK", 0)
        local = _int(env, "LOCAL_RANK", rank)
        if size < 1 or not 0 <= rank < size:
            raise DistributedError(f"RANK={rank} WORLD_SIZE={size}: need 0 <= RANK < WORLD_SIZE")
        if size > 1 and not env.get("MASTER_ADDR"):
            raise DistributedError(f"WORLD_SIZE={size} but MASTER_ADDR/MASTER_PORT are not set: start the "
                                   "processes with torchrun (e.g. torchrun --nproc_per_node 2 -m netdef "
                                   "train --solver S) or with --gpu 0,1")
        return cls(rank, size, local)


def _int(env, name: str, default: int) -> int:
    text = env.get(name)
    if text in (None, ""):
        return default
    try:
        return int(text)
    except ValueError:
        raise DistributedError(f"{name}={text!r} in the environment is not a whole number") from None


def parse_gpus(text: str | None, available: int) -> list[int]:
    """Caffe's --gpu: "0", "0,1,3" or "all" -> device numbers ([] for the CPU)."""
    if text is None:
        return []
    if text.strip().lower() == "all":
        if available == 0:
            raise DistributedError("--gpu all: no CUDA device is available; drop --gpu to run on the CPU")
        return list(range(available))
    try:
        gpus = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise DistributedError(f'--gpu expects device numbers ("0" or "0,1") or "all", got {text!r}') from None
    if not gpus:
        raise DistributedError(f'--gpu expects device numbers ("0" or "0,1") or "all", got {text!r}')
    if len(set(gpus)) != len(gpus):
        raise DistributedError(f"--gpu {text}: a device is listed twice")
    bad = [g for g in gpus if not 0 <= g < available]
    if bad:
        raise DistributedError(f"--gpu {text}: no CUDA device {bad[0]} ({available} available"
                               + (f": 0..{available - 1})" if available else "; drop --gpu to run on the CPU)"))
    return gpus
