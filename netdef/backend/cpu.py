"""Process-wide CPU settings for commands that run nets (time, test, train).

Caffe allocates each blob once; torch allocates tops and gradients anew every
iteration. glibc serves blocks over 32 MiB (AlexNet's fc6 gradient is 151 MB)
with fresh mmaps, and on a VM the page faults of touching them cost as much as
the arithmetic (measured: 57 ms to allocate and fill 151 MB, 6 ms to refill it).
Serving every block from the heap and never trimming it lets the second
iteration reuse the first one's pages. The library never changes this on its
own; the CLI opts in, and a Python user can call `reuse_freed_memory()`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4


def reuse_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (no mmap, no trimming). False where
    this is not glibc (nothing changes then)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_MAX, 0) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    ok &= mallopt(_M_TOP_PAD, 256 << 20) == 1
    return bool(ok)
