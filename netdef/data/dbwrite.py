"""Writing a new LMDB or LevelDB the way Caffe's tools do, without ever leaving a
half-written database under the target's name.

Caffe's convert_imageset opens the target with db::NEW (mkdir for LMDB,
error_if_exists for LevelDB) and commits every 1000 records, so an interrupted
run leaves a database that opens fine and silently holds part of the data.
`new_database` writes into a hidden folder beside the target instead
(`.NAME.partial-XXXX`) and renames it to NAME only after the last commit; an
exception removes the folder, a killed process leaves it under its hidden
name, where no Data layer would look for it.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Callable

from netdef.errors import DataError

LMDB, LEVELDB = "lmdb", "leveldb"
COMMIT_EVERY = 1000          # convert_imageset's transaction size
_LMDB_MAP_SIZE = 1 << 30     # first map size; doubled on MDB_MAP_FULL, as Caffe's LMDB does


def backend_name(backend: str) -> str:
    name = backend.lower()
    if name not in (LMDB, LEVELDB):
        raise DataError(f'unknown backend "{backend}"; use lmdb or leveldb', field="backend")
    return name


class _LmdbWriter:
    def __init__(self, path: str):
        import lmdb

        self.env = lmdb.open(path, map_size=_LMDB_MAP_SIZE, subdir=True, create=True)

    def commit(self, records: list[tuple[bytes, bytes]]) -> None:
        import lmdb

        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for key, value in records:
                        txn.put(key, value)
                return
            except lmdb.MapFullError:  # the aborted transaction is retried in a larger map
                self.env.set_mapsize(self.env.info()["map_size"] * 2)

    def close(self) -> None:
        self.env.sync(True)
        self.env.close()


class _LevelDbWriter:
    def __init__(self, path: str):
        try:
            import plyvel
        except ImportError:
            raise DataError("writing a LevelDB needs plyvel (pip install plyvel)", field="backend") from None
        # Caffe's LevelDB options for a new database.
        self.db = plyvel.DB(path, create_if_missing=True, error_if_exists=True, block_size=65536,
                            write_buffer_size=268435456, max_open_files=100)

    def commit(self, records: list[tuple[bytes, bytes]]) -> None:
        with self.db.write_batch(sync=True) as batch:
            for key, value in records:
                batch.put(key, value)

    def close(self) -> None:
        self.db.close()


class Transaction:
    """Puts buffered and committed every COMMIT_EVERY records, as Caffe's tools do."""

    def __init__(self, writer, every: int = COMMIT_EVERY):
        self.writer, self.every = writer, every
        self.pending: list[tuple[bytes, bytes]] = []
        self.count = 0

    def put(self, key: bytes, value: bytes) -> None:
        self.pending.append((key, value))
        self.count += 1
        if len(self.pending) >= self.every:
            self.commit()

    def commit(self) -> None:
        if self.pending:
            self.writer.commit(self.pending)
            self.pending = []


def partial_folders(path: str) -> list[str]:
    """Hidden folders that interrupted runs writing `path` left behind."""
    folder, name = os.path.split(os.path.abspath(path))
    return sorted(glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.partial-*")))


def check_new(path: str) -> None:
    """Caffe refuses to write into an existing database (mkdir fails); so does netdef."""
    if os.path.lexists(path):
        raise DataError(f'"{path}" already exists; convert_imageset writes a new database and never '
                        "overwrites one: remove it or choose another name", field="db")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise DataError(f'cannot create "{path}": folder "{parent}" does not exist', field="db")


@contextlib.contextmanager
def new_database(path: str, backend: str = LMDB, warn: Callable[[str], None] | None = None):
    """Yield a Transaction on a fresh database that appears at `path` only when the
    block exits normally (after the last commit)."""
    backend = backend_name(backend)
    path = os.fspath(path)
    check_new(path)
    for old in partial_folders(path):
        if warn:
            warn(f'"{old}" is left over from an interrupted run; it is not a database, delete it')
    parent, name = os.path.split(os.path.abspath(path))
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{name}.partial-")
    try:
        writer = (_LmdbWriter if backend == LMDB else _LevelDbWriter)(tmp)
        try:
            txn = Transaction(writer)
            yield txn
            txn.commit()
        finally:
            writer.close()
        _publish(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(tmp: str, path: str) -> None:
    """Give the finished folder its name (and the permissions a plain mkdir gives)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    if os.path.lexists(path):  # appeared while we were writing: keep theirs, fail ours
        raise DataError(f'"{path}" appeared while the database was being written; nothing was replaced',
                        field="db")
    try:
        os.rename(tmp, path)
    except OSError as err:
        raise DataError(f'cannot rename the finished database to "{path}": {err.strerror}', field="db") from None
