"""Snapshots in Caffe's formats, written so that a crash never damages one.

BINARYPROTO: `<prefix>_iter_N.caffemodel` (Net::ToProto) and
`<prefix>_iter_N.solverstate` (SolverState: iter, learned_net, history blobs,
current_step). HDF5: `<prefix>_iter_N.caffemodel.h5` and
`<prefix>_iter_N.solverstate.h5` (datasets iter, learned_net, current_step and
a group history/0..n-1). Each file is written to a temporary name and renamed
into place, weights before state, so every solverstate on disk names a whole
caffemodel and a SIGKILL at any moment leaves earlier snapshots as they were.

Restoring reads either format (told apart by the `.h5` suffix, as Caffe), from
netdef or from Caffe. `learned_net` is opened as Caffe opens it (relative to the
working directory), falling back to the solverstate's own folder.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError

from netdef.atomic import atomic_path, atomic_writer
from netdef.errors import SolverError, WeightsError, Where
from netdef.io.blobproto import (
    blob_to_array,
    chunks_size,
    encode_blob,
    length_delimited,
)
from netdef.io.common import is_hdf5, read_bytes
from netdef.proto import caffe_pb2

_HISTORY = caffe_pb2.SolverState.DESCRIPTOR.fields_by_name["history"].number   # 3


@dataclass
class SolverStateFile:
    iter: int
    learned_net: str | None
    current_step: int
    history: list[np.ndarray]
    path: str


def snapshot_filename(prefix: str, iteration: int, extension: str) -> str:
    return f"{prefix}_iter_{iteration}{extension}"


# -- writing ------------------------------------------------------------------------
def write_solverstate(path: str, iteration: int, learned_net: str, current_step: int, history) -> str:
    """A binary SolverState, streamed field by field in field-number order (as
    Caffe's serializer writes it) so large histories are never copied into protobuf."""
    with atomic_writer(path, _write_error) as f:
        f.write(caffe_pb2.SolverState(iter=iteration, learned_net=learned_net).SerializeToString())
        for array in history:
            chunks = encode_blob(array)
            f.write(length_delimited(_HISTORY, chunks_size(chunks)))
            for c in chunks:
                f.write(c)
        tail = caffe_pb2.SolverState()
        tail.current_step = current_step      # set explicitly: Caffe writes it even when 0
        f.write(tail.SerializeToString())
    return path


def write_solverstate_hdf5(path: str, iteration: int, learned_net: str, current_step: int, history) -> str:
    import h5py

    with atomic_path(path, _write_error) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("iter", data=np.array([iteration], dtype=np.int32))
        f.create_dataset("learned_net", data=np.bytes_(learned_net.encode("utf-8")))
        f.create_dataset("current_step", data=np.array([current_step], dtype=np.int32))
        group = f.create_group("history")
        for i, array in enumerate(history):
            group.create_dataset(str(i), data=np.asarray(array, dtype=np.float32))
    return path


def _write_error(path: str, message: str) -> SolverError:
    return SolverError(f"cannot write the snapshot: {message}", where=Where(path))


# -- reading ------------------------------------------------------------------------
def read_solverstate(path) -> SolverStateFile:
    """A .solverstate or .solverstate.h5 (by suffix, as Caffe's Restore decides)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SolverError("no such solver state file", where=Where(path))
    if path.endswith(".h5"):
        return _read_hdf5(path)
    data = read_bytes(path)
    state = caffe_pb2.SolverState()
    try:
        state.ParseFromString(data)
    except DecodeError:
        raise SolverError(f"not a valid solverstate ({len(data)} bytes): truncated or corrupt",
                          where=Where(path)) from None
    if data.startswith(b"\x89HDF"):
        raise SolverError("is an HDF5 file: name it *.solverstate.h5", where=Where(path))
    history = []
    for i, proto in enumerate(state.history):
        try:
            history.append(blob_to_array(proto, f"history blob {i}")[0])
        except WeightsError as err:
            raise SolverError(err.message, where=Where(path)) from None
    learned = state.learned_net if state.HasField("learned_net") else None
    return SolverStateFile(state.iter, learned, state.current_step, history, path)


def _read_hdf5(path: str) -> SolverStateFile:
    import h5py

    if not is_hdf5(path):
        raise SolverError("is not an HDF5 file (its name ends in .h5)", where=Where(path))
    try:
        with h5py.File(path, "r") as f:
            iteration = int(np.asarray(f["iter"][()]).reshape(-1)[0])
            step = int(np.asarray(f["current_step"][()]).reshape(-1)[0])
            learned = None
            if "learned_net" in f:
                raw = f["learned_net"][()]
                learned = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
            group = f["history"]
            history = [np.asarray(group[str(i)][()], dtype=np.float32) for i in range(len(group))]
    except (OSError, KeyError, ValueError) as err:
        raise SolverError(f"cannot read the solver state: {err}", where=Where(path)) from None
    return SolverStateFile(iteration, learned, step, history, path)


def find_learned_net(state: SolverStateFile) -> str:
    """The caffemodel a solverstate names: as written (cwd), else beside the state."""
    name = state.learned_net
    candidates = [name]
    if not os.path.isabs(name):
        candidates.append(os.path.join(os.path.dirname(os.path.abspath(state.path)), os.path.basename(name)))
    for c in candidates:
        if os.path.exists(c):
            return c
    raise SolverError(f'names learned_net "{name}", which is missing (looked in '
                      f"{' and '.join(os.path.abspath(c) for c in candidates)})", where=Where(state.path))


def newest_solverstate(prefix: str) -> str | None:
    """The complete snapshot with the highest iteration for `prefix` (resume helper)."""
    folder = os.path.dirname(os.path.abspath(prefix)) or "."
    base = os.path.basename(prefix) + "_iter_"
    best = None
    for name in os.listdir(folder):
        if not name.startswith(base):
            continue
        number, _, ext = name[len(base):].partition(".")
        complete = number.isdigit() and ext in ("solverstate", "solverstate.h5")
        if complete and (best is None or int(number) > best[0]):
            best = (int(number), os.path.join(folder, name))
    return best[1] if best else None
