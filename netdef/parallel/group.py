"""The process group: joining it with a timeout, agreeing on flags, leaving it,
and turning a failed collective (a process died or hangs) into one clear message."""
from __future__ import annotations

import contextlib
import datetime
import os

import torch
import torch.distributed as dist

from netdef.errors import DistributedError
from netdef.parallel.world import World

# A collective waits this long for the others before failing (NCCL's watchdog
# then aborts, gloo raises): a hung process stops the run instead of hanging it
# forever. Long, because the others wait in their next all-reduce while rank 0
# alone runs the test nets; a dead process is noticed sooner (its launcher, or
# its closed connection). Override with NETDEF_DIST_TIMEOUT (seconds).
DEFAULT_TIMEOUT_S = 1800


def timeout_s() -> float:
    text = os.environ.get("NETDEF_DIST_TIMEOUT", "")
    try:
        return float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        raise DistributedError(f"NETDEF_DIST_TIMEOUT={text!r} is not a number of seconds") from None


def join(world: World, device: torch.device) -> str:
    """Join the process group (NCCL on CUDA, gloo on the CPU); returns the backend name."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
        # NCCL tears the communicator down on an error or timeout instead of hanging.
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    kwargs = {"device_id": device} if device.type == "cuda" else {}
    with failures(world, "joining the process group"):
        dist.init_process_group(backend, rank=world.rank, world_size=world.size,
                                timeout=datetime.timedelta(seconds=timeout_s()), **kwargs)
    return backend


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is True on any (e.g. a SIGINT seen by one process),
    so all processes stop or snapshot at the same iteration."""
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def broadcast_int(value: int, device: torch.device) -> int:
    """Rank 0's value on every rank (e.g. a seed)."""
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(t, src=0)
    return int(t.item())


def _from_communication(err: BaseException) -> bool:
    """Errors of the process group itself (not, say, an out-of-memory in a layer)."""
    if isinstance(err, getattr(dist, "DistError", ())):
        return True
    text = str(err)
    return any(mark in text for mark in ("gloo", "NCCL", "Connection reset", "Connection closed",
                                         "Broken pipe", "timed out", "Timed out", "ProcessGroup"))


@contextlib.contextmanager
def failures(world: World, doing: str):
    """Raise DistributedError, naming this rank, when a collective fails: the usual cause
    is another process that died (its own log says why) or stopped answering."""
    try:
        yield
    except (RuntimeError, OSError) as err:
        if not _from_communication(err):
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DistributedError(
            f"rank {world.rank} of {world.size} stopped while {doing}: another process died or stopped "
            f"answering within {timeout_s():g} s (its own output says why); torch.distributed said: "
            f"{first[:300]}") from None
