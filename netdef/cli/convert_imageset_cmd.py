"""Convert a list of images into an LMDB / LevelDB of Caffe Datums (Caffe's convert_imageset).

Example: netdef convert-imageset --resize-height 256 --resize-width 256 images/ train.txt train_lmdb
Each LISTFILE line is `path label` (the label follows the last space); ROOT is
joined to the path as written, so keep its trailing "/". Keys are
`%08d_<path>`; an image that cannot be read is skipped with a warning and its
number is not reused. Caffe's flag spellings (--resize_height=256, --encoded=true)
work too. The database appears under DB only once it is complete, and an
existing DB is never overwritten.
"""
from __future__ import annotations

import argparse

from netdef.cli.common import warn


def flag_value(text: str) -> bool:
    """gflags' boolean spellings: --gray, --gray=true, --gray=false, --gray=0."""
    lowered = text.lower()
    if lowered in ("true", "t", "yes", "y", "1"):
        return True
    if lowered in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_flag(ap, name: str, help: str) -> None:
    spellings = [f"--{name}"] + ([f"--{name.replace('-', '_')}"] if "-" in name else [])
    ap.add_argument(*spellings, dest=name.replace("-", "_"), nargs="?", const=True, default=False,
                    type=flag_value, metavar="BOOL", help=help)


def add_arguments(ap) -> None:
    ap.add_argument("root", metavar="ROOT/", help="folder the listed paths are relative to (plain prefix)")
    ap.add_argument("listfile", metavar="LISTFILE", help="lines of `relative/path label`")
    ap.add_argument("db", metavar="DB", help="the database to create (must not exist)")
    for name in ("resize-height", "resize-width"):
        ap.add_argument(f"--{name}", f"--{name.replace('-', '_')}", dest=name.replace("-", "_"), type=int,
                        default=0, metavar="N", help=f"{name.split('-')[1]} images are resized to "
                        "(both sizes must be set for a resize; cv::resize INTER_LINEAR)")
    add_flag(ap, "gray", "read images as grayscale (1 channel)")
    add_flag(ap, "shuffle", "shuffle the lines before numbering them")
    add_flag(ap, "encoded", "store encoded images (the file itself when unchanged)")
    ap.add_argument("--encode-type", "--encode_type", dest="encode_type", default="", metavar="EXT",
                    help="jpg or png (implies --encoded; default: each file's own extension)")
    ap.add_argument("--backend", default="lmdb", type=str.lower, choices=["lmdb", "leveldb"],
                    help="database kind (default lmdb, as Caffe's tool)")
    add_flag(ap, "check-size", "fail unless every record has the same size")
    ap.add_argument("--seed", type=int, default=None, help="seed for --shuffle (default: random)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from netdef.data.convert import convert_imageset

    result = convert_imageset(
        args.root, args.listfile, args.db, resize_height=args.resize_height, resize_width=args.resize_width,
        gray=args.gray, shuffle=args.shuffle, encoded=args.encoded, encode_type=args.encode_type,
        backend=args.backend, check_size=args.check_size, seed=args.seed, progress=not args.no_progress,
        warn=warn)
    skipped = f", {len(result.skipped)} skipped" if result.skipped else ""
    print(f"netdef: wrote {result.count} records to {result.db}{skipped}")
    return 0
