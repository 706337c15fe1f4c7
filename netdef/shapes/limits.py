"""Limits Caffe enforces on blobs and parameters (blob.cpp, the proto's int fields),
and the memory a net needs against what this machine has."""
from __future__ import annotations

import os
from math import prod

from netdef.errors import NetdefError, ShapeError
from netdef.layers.spec import fmt_shape

MAX_AXES = 32            # Caffe's kMaxBlobAxes
INT_MAX = 2**31 - 1      # Blob::count_ is an int: "blob size exceeds INT_MAX"


def check_limits(shape: tuple[int, ...], what: str) -> None:
    """Blob::Reshape's checks: at most 32 axes, no negative size, count <= INT_MAX."""
    if len(shape) > MAX_AXES:
        raise ShapeError(f"{what} would have {len(shape)} axes; Caffe allows at most {MAX_AXES}")
    if any(d < 0 for d in shape):
        raise ShapeError(f"{what} would have negative size {fmt_shape(shape)}")
    count = prod(shape)
    if count > INT_MAX:
        raise ShapeError(f"{what} would have {count:,} elements ({fmt_shape(shape)}); Caffe's blobs "
                         f"hold at most INT_MAX = {INT_MAX:,}")


def check_int_fields(message, prefix: str = "") -> None:
    """Caffe reads its uint32 fields (num_output, kernel_size, ...) into signed ints:
    a value above INT_MAX turns negative there. Walk the layer's message once."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.message_type is not None:
            for item in (value if _repeated(field) else [value]):
                check_int_fields(item, path + ".")
        elif field.type in (field.TYPE_UINT32, field.TYPE_UINT64):
            for item in (value if _repeated(field) else [value]):
                if item > INT_MAX:
                    raise ShapeError(f"{path} is {item:,}; Caffe reads it as a signed int "
                                     f"(at most {INT_MAX:,})", field=path)


def _repeated(field) -> bool:
    """FieldDescriptor.is_repeated (protobuf >= 5), else its label (4.x)."""
    flag = getattr(field, "is_repeated", None)
    return flag if flag is not None else field.label == field.LABEL_REPEATED


# -- memory ---------------------------------------------------------------------
def available_bytes() -> int | None:
    """Memory this process may still use: MemAvailable, capped by a cgroup limit (None if unknown)."""
    free = _meminfo_available()
    limit = _cgroup_room()
    known = [b for b in (free, limit) if b is not None]
    return min(known) if known else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """cgroup v2 memory.max - memory.current, or v1 limit_in_bytes - usage_in_bytes."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as f:
                limit = f.read().strip()
            with open(usage_file) as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            return max(int(limit) - usage, 0)
    return None


def check_memory(needed: int, what: str, available: int | None = None) -> None:
    """Refuse before allocating `needed` bytes when the machine does not have them."""
    if os.environ.get("NETDEF_NO_MEMORY_CHECK"):
        return
    available = available_bytes() if available is None else available
    if available is not None and needed > available:
        raise NetdefError(f"{what} needs {needed / 2**30:,.2f} GiB but only {available / 2**30:,.2f} GiB "
                          "of memory is available; use a smaller --batch or --input, or a machine with "
                          "more memory (set NETDEF_NO_MEMORY_CHECK=1 to try anyway)")
