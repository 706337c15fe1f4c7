"""Writing files so that a failure never damages what was there.

Everything netdef writes (pictures, upgraded prototxt, weights, mean files)
goes to a temporary file in the target's folder, which replaces the target
only once complete; on any error the temporary file is removed and an existing
target is untouched.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable

from netdef.errors import NetdefError, Where


def _default_error(path: str, message: str) -> NetdefError:
    return NetdefError(message, where=Where(path))


def _default_mode() -> int:
    """Permissions a plain open() would give a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path, error: Callable[[str, str], NetdefError] = _default_error):
    """Yield a temporary path beside `path`; on success it replaces `path` (keeping
    the old file's permissions). `error(path, message)` builds the exception raised
    when the folder cannot be written."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except OSError as err:
        raise error(path, f"cannot write: {err.strerror or err}") from None
    os.close(fd)
    try:
        yield tmp
        mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else _default_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_writer(path, error: Callable[[str, str], NetdefError] = _default_error):
    """A binary file object whose contents replace `path` only once fully written."""
    with atomic_path(path, error) as tmp:
        try:
            with open(tmp, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            raise error(os.fspath(path), f"cannot write: {err.strerror or err}") from None


def write_atomic(path, data: bytes, error: Callable[[str, str], NetdefError] = _default_error) -> None:
    """Write `data` to `path` atomically."""
    with atomic_writer(path, error) as f:
        f.write(data)
