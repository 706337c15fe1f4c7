"""One process per device, started and watched by netdef itself (`--gpu 0,1`, `--gpu all`).

Each worker gets the environment torchrun would give it (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and runs the same code a torchrun-started
process runs, so both paths behave alike. The parent watches the children: when
one exits with an error or dies, the others are stopped and the parent says
which one failed, instead of waiting on a collective that never completes.
"""
from __future__ import annotations

import os
import signal
import sys

from netdef.errors import DistributedError

GRACE_S = 10  # how long the others get to stop cleanly after one failed


def launch(worker, args, nprocs: int, gpus: list[int] | None = None) -> int:
    """Run worker(args) -> exit code in `nprocs` processes; 0 when all succeed."""
    import torch.multiprocessing as mp
    from torch.distributed.elastic.utils.distributed import get_free_port

    port = get_free_port()
    ctx = mp.start_processes(_entry, args=(worker, args, nprocs, port), nprocs=nprocs, join=False,
                             start_method="spawn")
    # Ctrl-C reaches the children too (same process group); they stop or snapshot as
    # --sigint-effect says, and the parent waits for them rather than dying first.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while not ctx.join(timeout=1, grace_period=GRACE_S):
            pass
    except mp.ProcessExitedException as err:
        raise DistributedError(_exited(err, gpus)) from None
    except mp.ProcessRaisedException as err:
        raise DistributedError(f"{_who(err.error_index, gpus)} failed: {_last_line(str(err))}; "
                               "the other processes were stopped") from None
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


def _entry(index: int, worker, args, nprocs: int, port: int) -> None:
    os.environ.update(RANK=str(index), LOCAL_RANK=str(index), WORLD_SIZE=str(nprocs),
                      LOCAL_WORLD_SIZE=str(nprocs), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    code = worker(args)
    sys.stdout.flush()
    sys.stderr.flush()
    if code:
        os._exit(int(code))  # skip interpreter teardown: the parent now stops the others


def _who(index: int, gpus) -> str:
    return f"process {index}" + (f" (GPU {gpus[index]})" if gpus else "")


def _exited(err, gpus) -> str:
    code = err.exit_code
    if code is not None and code < 0:
        try:
            how = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited with code {code}"
    return f"{_who(err.error_index, gpus)} {how}; the other processes were stopped"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"

