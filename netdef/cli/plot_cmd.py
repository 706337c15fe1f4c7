"""Draw training curves: loss, test outputs and learning rate against iteration.

Example: netdef plot caffe.log -o curves.png
LOG may be a glog training log (real Caffe's or netdef's), a parse-log table
(`caffe.log.train` or `.test`; its sibling is drawn too) or netdef's JSONL log
(`<snapshot_prefix>_log.jsonl`). The picture (.png, .svg or .pdf) is written
through a temporary file, so a failure leaves an existing one as it was.
"""
from __future__ import annotations

import os
import sys


def add_arguments(ap) -> None:
    ap.add_argument("log", metavar="LOG", help="training log: glog text, .train/.test table, or .jsonl")
    ap.add_argument("-o", "--output", metavar="FILE", default=None,
                    help="picture to write (.png, .svg, .pdf; default: LOG's name + .png)")
    ap.add_argument("--title", default=None, help="title (default: the log's file name)")


def run(args) -> int:
    from netdef.logs.plot import plot_file

    output = args.output or os.path.basename(args.log) + ".png"
    plot_file(args.log, output, title=args.title)
    print(f"netdef: wrote {output}", file=sys.stderr)
    return 0
