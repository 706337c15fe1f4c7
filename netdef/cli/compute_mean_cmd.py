"""Compute the mean image of a Datum database (Caffe's compute_image_mean).

Example: netdef compute-mean train_lmdb mean.binaryproto
Encoded records are decoded as stored (IMREAD_UNCHANGED); every record must
have the same size. The mean is a float32 running sum divided by the count,
written as a BlobProto with num/channels/height/width, bit for bit what
Caffe writes; the file is replaced only once complete.
"""
from __future__ import annotations


def add_arguments(ap) -> None:
    ap.add_argument("db", metavar="DB", help="LMDB or LevelDB of Datums")
    ap.add_argument("output", metavar="MEAN.binaryproto", nargs="?",
                    help="where to write the mean (without it, only the per-channel means are printed)")
    ap.add_argument("--backend", default="lmdb", type=str.lower, choices=["lmdb", "leveldb"],
                    help="database kind (default lmdb, as Caffe's tool)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from netdef.data.convert import compute_mean

    compute_mean(args.db, args.output, backend=args.backend, progress=not args.no_progress)
    return 0
