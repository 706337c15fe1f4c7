"""Worker functions for the launcher tests (importable by spawned processes)."""
from __future__ import annotations

import os
import signal
import sys
import time


def allreduce(args) -> int:
    import torch

    from netdef.parallel import group
    from netdef.parallel.world import World

    world = World.from_env()
    group.join(world, torch.device("cpu"))
    total = torch.tensor([float(world.rank + 1)])
    torch.distributed.all_reduce(total)
    with open(os.path.join(args["out"], f"rank{world.rank}.txt"), "w") as f:
        f.write(f"{world.rank} {world.size} {total.item():g}\n")
    group.leave()
    return 0


def one_dies(args) -> int:
    """Rank `victim` kills itself after a first collective; the others keep reducing
    (they would wait forever without monitoring and timeouts)."""
    import torch

    from netdef.errors import NetdefError
    from netdef.parallel import group
    from netdef.parallel.world import World

    world = World.from_env()
    group.join(world, torch.device("cpu"))
    try:
        for i in range(100000):
            with group.failures(world, f"iteration {i}"):
                torch.distributed.all_reduce(torch.ones(4))
            if world.rank == args["victim"] and i == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.01)
    except NetdefError as err:
        print(f"netdef: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


def fails(args) -> int:
    """Rank 1 reports an error and exits 1, as `netdef train` does."""
    import torch

    from netdef.parallel import group
    from netdef.parallel.world import World

    world = World.from_env()
    group.join(world, torch.device("cpu"))
    if world.rank == 1:
        print("netdef: solver.prototxt:3: something a user can fix", file=sys.stderr, flush=True)
        return 1
    torch.distributed.barrier()  # waits for rank 1, which never comes
    return 0
