"""Read-only access to Caffe's key-value stores (LMDB, LevelDB), in key order.

Caffe's Data layer walks a database cursor from the first key, in bytewise key
order, and seeks back to the first record when it runs past the last one. A
`Cursor` does the same. Nothing is ever written where the database lives:
LMDB is opened read-only without its lock file, and LevelDB (which always
writes LOCK/LOG files and may compact on open) is opened through a private
shadow folder whose table and log files are symlinks to the originals.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref

from netdef.data.lmdb_check import LeafWalker
from netdef.errors import DataError

LMDB, LEVELDB = "LMDB", "LEVELDB"


def detect(path: str) -> str | None:
    """The backend a folder holds, from its files (None when unrecognised)."""
    if os.path.isfile(path) or os.path.exists(os.path.join(path, "data.mdb")):
        return LMDB
    if os.path.exists(os.path.join(path, "CURRENT")):
        return LEVELDB
    return None


def check_backend(path: str, backend: str) -> None:
    """Caffe fails to open a store with the wrong backend; say which one it is."""
    found = detect(path)
    if found is None:
        raise DataError(f'"{path}" is neither an LMDB (data.mdb) nor a LevelDB (CURRENT) folder',
                        field="source")
    if found != backend:
        default = " (Caffe's default)" if backend == LEVELDB else ""
        raise DataError(f'source "{path}" is a{"n" if found == LMDB else ""} {found} database '
                        f"but backend is {backend}{default}; set `backend: {found}` in data_param",
                        field="backend" if backend == LMDB else "source")  # LEVELDB is usually implicit


class Database:
    """An open store. `items()` makes one pass in key order; `cursor()` wraps around."""

    def __init__(self, path: str, backend: str):
        check_backend(path, backend)
        self.path, self.backend = path, backend
        opener = _open_lmdb if backend == LMDB else _open_leveldb
        self._iterate, self._close, self._count = opener(path)
        self._finalizer = weakref.finalize(self, self._close)

    def items(self):
        """(key, value) bytes pairs, first to last."""
        return self._iterate()

    def count(self) -> int | None:
        """How many records (LMDB knows without reading them; LevelDB does not: None)."""
        return self._count() if self._count else None

    def first(self) -> tuple[bytes, bytes]:
        for item in self._iterate():
            return item
        raise DataError(f'database "{self.path}" has no records', field="source")

    def cursor(self) -> Cursor:
        return Cursor(self)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Cursor:
    """Caffe's Data-layer cursor: next() never ends, it restarts at the first key."""

    def __init__(self, db: Database):
        self.db = db
        self._it = iter(db.items())
        self.position = 0          # records read since the last pass began

    def next(self) -> tuple[bytes, bytes]:
        item = next(self._it, None)
        if item is None:  # past the last record: seek to the first, as Caffe does
            self._it = iter(self.db.items())
            self.position = 0
            item = next(self._it, None)
            if item is None:
                raise DataError(f'database "{self.db.path}" has no records', field="source")
        self.position += 1
        return item

    def skip(self, count: int) -> None:
        """Move `count` records on (no decoding): netdef's resume puts a cursor back."""
        for _ in range(count):
            self.next()


# py-lmdb refuses to open one environment twice in a process, so readers of the
# same database (the shapes pass, a running net) share it: {real path: [env, users]}.
_LMDB_ENVS: dict[str, list] = {}


def _forget_inherited_envs() -> None:
    """In a forked child (a data worker), drop the parent's environments: LMDB
    handles must not cross fork(), and py-lmdb would refuse to reopen them. The
    close only unmaps the child's copy; the parent's handles are untouched."""
    for env, _ in _LMDB_ENVS.values():
        env.close()
    _LMDB_ENVS.clear()


os.register_at_fork(after_in_child=_forget_inherited_envs)


def _open_lmdb(path: str):
    import lmdb

    real = os.path.realpath(path)
    if real not in _LMDB_ENVS:
        try:
            env = lmdb.open(path, readonly=True, lock=False, subdir=os.path.isdir(path),
                            readahead=False, max_readers=64)
        except lmdb.Error as err:
            raise DataError(f'cannot open LMDB "{path}": {err}', field="source") from None
        try:
            _check_lmdb_size(env, path)
        except DataError:
            env.close()
            raise
        _LMDB_ENVS[real] = [env, 0]
    entry = _LMDB_ENVS[real]
    entry[1] += 1

    data = os.path.join(path, "data.mdb") if os.path.isdir(path) else path

    def iterate():
        key = None  # the last key read, to say where a damaged page sits
        walker = LeafWalker(data, entry[0].stat()["psize"])
        try:
            with entry[0].begin(buffers=False) as txn:
                for key, value in _checked(txn.cursor(), walker.leaves()):
                    yield key, value
        except lmdb.Error as err:
            after = f"after key {key!r}" if key is not None else "at the first key"
            raise DataError(f'LMDB "{path}" is damaged: reading the record {after} failed: '
                            f"{type(err).__name__}: {err}", field="source") from None
        except DataError as err:
            after = f"after key {key!r}" if key is not None else "at the first key"
            raise DataError(f"{err.message} (reading the record {after})", field="source") from None
        finally:
            walker.close()

    def close():
        entry[1] -= 1
        if entry[1] == 0 and _LMDB_ENVS.get(real) is entry:
            del _LMDB_ENVS[real]
            entry[0].close()

    return iterate, close, lambda: entry[0].stat()["entries"]


def _checked(cursor, leaves):
    """The cursor's records, each leaf page checked (LeafWalker) before the cursor reads it."""
    checked, index = 0, 0
    while True:
        while checked <= index:
            checked += next(leaves, float("inf"))  # past the tree's last leaf: nothing left to check
        if not (cursor.first() if index == 0 else cursor.next()):
            return
        yield cursor.key(), cursor.value()
        index += 1


def _check_lmdb_size(env, path: str) -> None:
    """The pages the environment's meta page says exist must be in the file: a
    truncated data.mdb would otherwise be mapped and kill the process with SIGBUS
    on the first read past its end. The meta pages are read with pread, not mapped."""
    import lmdb

    try:
        pages, page_size = env.info()["last_pgno"] + 1, env.stat()["psize"]
    except lmdb.Error as err:
        raise DataError(f'LMDB "{path}" is damaged: {type(err).__name__}: {err}', field="source") from None
    data = os.path.join(path, "data.mdb") if os.path.isdir(path) else path
    size = os.path.getsize(data)
    if pages * page_size > size:
        raise DataError(f'LMDB "{data}" is truncated: its meta page declares {pages} pages of '
                        f"{page_size} bytes ({pages * page_size:,} bytes) but the file has {size:,} bytes",
                        field="source")


def _open_leveldb(path: str):
    try:
        import plyvel
    except ImportError:
        raise DataError("reading a LevelDB needs plyvel (pip install plyvel); "
                        "Caffe's Data layer defaults to backend: LEVELDB", field="backend") from None
    shadow = _shadow(path)
    try:
        db = plyvel.DB(shadow, create_if_missing=False)
    except plyvel.Error as err:
        shutil.rmtree(shadow, ignore_errors=True)
        raise DataError(f'cannot open LevelDB "{path}": {err}', field="source") from None

    def iterate():
        key = None
        try:
            with db.iterator() as it:
                for key, value in it:
                    yield key, value
        except plyvel.Error as err:
            after = f"after key {key!r}" if key is not None else "at the first key"
            raise DataError(f'LevelDB "{path}" is damaged: reading the record {after} failed: {err}',
                            field="source") from None

    def close():
        db.close()
        shutil.rmtree(shadow, ignore_errors=True)

    return iterate, close, None


def _shadow(path: str) -> str:
    """A private folder LevelDB may write in: CURRENT and MANIFEST copied (LevelDB
    rewrites them), tables and logs symlinked (LevelDB only reads them)."""
    shadow = tempfile.mkdtemp(prefix="netdef-leveldb-")
    for name in os.listdir(path):
        if name in ("LOCK", "LOG", "LOG.old"):
            continue
        src, dst = os.path.join(os.path.abspath(path), name), os.path.join(shadow, name)
        if name == "CURRENT" or name.startswith("MANIFEST"):
            shutil.copyfile(src, dst)
        else:
            os.symlink(src, dst)
    return shadow
