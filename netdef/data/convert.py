"""Caffe's dataset tools as library calls: convert_imageset and compute_image_mean.

    convert_imageset(root, listfile, db, ...)   images named by a list -> LMDB / LevelDB of Datums
    compute_mean(db, out)                       the mean image of a database -> .binaryproto

What they write is what Caffe's tools write (checked against
caffe-reference/data): keys `%08d_<path as listed>`, numbered after the
optional shuffle, a line whose image fails to load skipped but still using up
its number; raw Datums set channels/height/width/data/label and encoded=false,
encoded ones only data/label/encoded=true; files are stored verbatim when
nothing would change them; the mean is a float32 running sum divided by the
count, written with the legacy num/channels/height/width fields.

Where netdef differs, it is to protect the user's data: the database appears
under its name only once complete (see dbwrite.py), an empty list is refused
instead of making an empty database, `check_size` compares decoded sizes for
encoded records (Caffe compares their byte count with 0 and aborts), and the
shuffle draws from a seedable NumPy generator (Caffe's is unseeded).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from netdef.data import dbwrite, image, lists
from netdef.errors import DataError
from netdef.proto import caffe_pb2


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class ConvertResult:
    """What convert_imageset did."""

    db: str                                             # the database written
    count: int = 0                                      # records written
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line index, path) not loadable
    shape: tuple[int, int, int] | None = None           # (C, H, W) of the first record


def convert_imageset(root: str, listfile: str, db: str, *, resize_height: int = 0, resize_width: int = 0,
                     gray: bool = False, shuffle: bool = False, encoded: bool = False, encode_type: str = "",
                     backend: str = "lmdb", check_size: bool = False, seed: int | None = None,
                     progress: bool = True, log: Callable[[str], None] | None = _stderr,
                     warn: Callable[[str], None] | None = None) -> ConvertResult:
    """Caffe's `convert_imageset [FLAGS] ROOTFOLDER/ LISTFILE DB_NAME`.

    `root` is joined to each listed path by plain concatenation (keep its
    trailing "/"); resizing happens only when both sizes are positive;
    `encode_type` implies `encoded`. Unloadable images are reported through
    `warn` and skipped. Raises DataError (nothing written) on a bad list, an
    unknown encoding, an existing `db`, or a --check-size mismatch."""
    log = log or (lambda message: None)
    warn = warn or (lambda message: _stderr(f"netdef: warning: {message}"))
    root, listfile, db = os.fspath(root), os.fspath(listfile), os.fspath(db)
    dbwrite.check_new(db)
    entries = [(line, path, label) for line, (path, label) in
               enumerate(lists.read_image_list(listfile, keep_empty=True), 1)]
    if shuffle:
        log("Shuffling data")
        entries = [entries[i] for i in np.random.default_rng(seed).permutation(len(entries))]
    log(f"A total of {len(entries)} images.")
    encoding = encode_type.lower()
    if encoding and not encoded:
        log("encode_type specified, assuming encoded=true.")
    if encoding and not image.can_encode(encoding):
        raise DataError(f'OpenCV cannot encode images as ".{encoding}"; use jpg or png', field="encode_type")
    size = (max(0, resize_height), max(0, resize_width))
    result = ConvertResult(db=db)
    with dbwrite.new_database(db, backend, warn) as txn, _Progress(len(entries), progress, "images", log) as bar:
        for index, (line, path, label) in enumerate(entries):  # index: the key's number, after a shuffle
            enc = encoding or (_guess_encoding(path, warn) if encoded else "")
            try:
                datum, shape = read_image_to_datum(root + path, label, size, not gray, enc)
            except Unreadable as err:
                warn(f"{err.message} (line {line} of {listfile}); skipped")
                result.skipped.append((index, path))
                continue
            finally:
                bar.update(1)
            if result.shape is None:
                result.shape = shape
            elif check_size and shape != result.shape:
                raise DataError(f'"{root + path}" (line {line}) gives a {_fmt(shape)} record but the first '
                                f"was {_fmt(result.shape)}; --check-size wants one size for all (resize with "
                                "--resize-height and --resize-width)", field="check_size")
            txn.put(_key(index, path), datum.SerializeToString())
            if txn.count % dbwrite.COMMIT_EVERY == 0:
                bar.write(f"Processed {txn.count} files.")
        result.count = txn.count
    if result.count % dbwrite.COMMIT_EVERY:
        log(f"Processed {result.count} files.")
    return result


class Unreadable(DataError):
    """An image file that cannot be read or decoded: convert_imageset skips it, as Caffe."""


def read_image_to_datum(filename: str, label: int, size: tuple[int, int], is_color: bool,
                        encoding: str) -> tuple[caffe_pb2.Datum, tuple[int, int, int]]:
    """Caffe's ReadImageToDatum: the Datum, and the (C, H, W) of the image it holds
    (as decoded with the tool's colour/gray flag). Raises Unreadable."""
    try:
        data = image.read_bytes(filename, f'"{filename}"')
        img = image.decode(data, image.COLOR if is_color else image.GRAY, f'"{filename}"')
    except DataError as err:
        raise Unreadable(err.message) from None
    height, width = size
    if height > 0 and width > 0:
        img = image.resize(img, height, width)
    shape = (img.shape[2], img.shape[0], img.shape[1])
    if not encoding:  # raw: planar C x H x W bytes, every field set (encoded=false on the wire)
        return caffe_pb2.Datum(channels=shape[0], height=shape[1], width=shape[2],
                               data=img.transpose(2, 0, 1).tobytes(), label=label, encoded=False), shape
    # The file itself when nothing would change it (no resize requested, matching extension).
    verbatim = (img.shape[2] == 3) == is_color and not height and not width and _match_ext(filename, encoding)
    data = data if verbatim else image.encode(img, encoding)
    return caffe_pb2.Datum(data=data, label=label, encoded=True), shape


def _match_ext(filename: str, encoding: str) -> bool:
    """Caffe's matchExt: the text after the last "." (the whole name if none), any case;
    "jpeg" files count as "jpg"."""
    ext = filename[filename.rfind(".") + 1:].lower()
    return ext == encoding or (encoding == "jpg" and ext == "jpeg")


def _guess_encoding(path: str, warn) -> str:
    """--encoded without --encode-type: the listed path's extension, lower-cased."""
    if "." not in path:
        warn(f"Failed to guess the encoding of '{path}'")
    return path[path.rfind(".") + 1:].lower()


def _key(index: int, path: str) -> bytes:
    return f"{index:08d}_{path}".encode("utf-8", "surrogateescape")


def _fmt(shape) -> str:
    return "x".join(map(str, shape))


class _Progress:
    """A tqdm progress bar on stderr (or nothing), with a write() that keeps it intact."""

    def __init__(self, total: int | None, enabled: bool, unit: str, log=None):
        self.tqdm, self.log = None, log
        if enabled:
            from tqdm import tqdm

            self.tqdm = tqdm(total=total, unit=f" {unit}", file=sys.stderr, dynamic_ncols=True, leave=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.tqdm is not None:
            self.tqdm.close()

    def update(self, n: int) -> None:
        if self.tqdm is not None:
            self.tqdm.update(n)

    def write(self, message: str) -> None:
        if self.tqdm is not None:
            self.tqdm.write(message, file=sys.stderr)
        elif self.log is not None:
            self.log(message)


# -- compute_image_mean ------------------------------------------------------------
def compute_mean(db: str, out: str | None = None, *, backend: str = "lmdb", progress: bool = True,
                 log: Callable[[str], None] | None = _stderr) -> np.ndarray:
    """Caffe's `compute_image_mean DB [OUT]`: the (1, C, H, W) float32 mean of every
    record (encoded ones decoded natively), written to `out` atomically as a
    BlobProto with the legacy 4-D fields."""
    from netdef.data import datum as datum_mod
    from netdef.data.db import Database
    from netdef.io.blobproto import write_binaryproto

    log = log or (lambda message: None)
    db, backend = os.fspath(db), dbwrite.backend_name(backend)
    _check_source(db, backend)
    total, first_key, count = None, None, 0
    with Database(db, backend.upper()) as source:
        with _Progress(source.count(), progress, "records") as bar:
            for key, value in source.items():
                try:
                    x = datum_mod.to_array(datum_mod.parse(value, key), image.NATIVE, key)
                except DataError as err:
                    raise DataError(f'{err.message} (database "{db}")', field="db") from None
                if total is None:
                    total, first_key = np.zeros(x.shape, np.float32), key
                elif x.shape != total.shape:
                    raise DataError(f'record "{key.decode("utf-8", "replace")}" of "{db}" is {_fmt(x.shape)} '
                                    f'but the first, "{first_key.decode("utf-8", "replace")}", is '
                                    f"{_fmt(total.shape)}; the mean needs records of one size", field="db")
                total += x  # float32 += uint8 or float32: Caffe's per-element float sum, in order
                count += 1
                bar.update(1)
    if total is None:
        raise DataError(f'database "{db}" has no records', field="db")
    log(f"Processed {count} files.")
    mean = (total / np.float32(count)).astype(np.float32)[None]  # (1, C, H, W)
    if out is not None:
        log(f"Write to {out}")
        write_binaryproto(out, mean, legacy=True)
    log(f"Number of channels: {mean.shape[1]}")
    for c, value in enumerate(mean[0].reshape(mean.shape[1], -1).mean(axis=1, dtype=np.float64)):
        log(f"mean_value channel [{c}]: {value:g}")
    return mean


def _check_source(db: str, backend: str) -> None:
    from netdef.data.db import detect

    if not os.path.exists(db):
        raise DataError(f'database "{db}" not found', field="db")
    found = (detect(db) or "").lower()
    if not found:
        raise DataError(f'"{db}" is neither an LMDB (data.mdb) nor a LevelDB (CURRENT) folder', field="db")
    if found != backend:
        raise DataError(f'"{db}" is a {found} database; pass --backend {found} (got {backend})', field="backend")
