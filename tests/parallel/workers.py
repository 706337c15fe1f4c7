"""Worker functions for the launcher tests (importable by spawned processes)."""
from __future__ import annotations

import os
import signal
import sys
import time


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
