"""Arguments every net-reading command shares, and turning them into a Net."""
from __future__ import annotations

import argparse
import sys

from netdef.errors import NetdefError


def add_net_args(ap: argparse.ArgumentParser, default_phase: str = "TEST", positional: bool = True) -> None:
    if positional:
        ap.add_argument("model", help="net prototxt (Caffe text format; V0/V1 files are upgraded)")
    ap.add_argument("--phase", default=default_phase, type=str.upper, choices=["TRAIN", "TEST"],
                    help=f"NetState phase used to filter include/exclude rules (default {default_phase})")
    ap.add_argument("--level", type=int, default=None, help="NetState level")
    ap.add_argument("--stage", action="append", default=None, metavar="NAME",
                    help="NetState stage (repeat for several)")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=N,C,H,W", type=parse_input,
                    help="shape of a net input or data-layer top (overrides the file or the data source)")
    ap.add_argument("--batch", type=int, default=None, metavar="N",
                    help="batch size for every Input and data layer")


def parse_input(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
    except ValueError:
        shape = ()
    if not sep or not name or not shape or any(d < 0 for d in shape):
        raise argparse.ArgumentTypeError(f"expected NAME=N,C,H,W (e.g. data=1,3,227,227), got {text!r}")
    return name, shape


def net_from_args(args, model=None):
    from netdef.frontend import open_net
    from netdef.graph.net import NetOptions

    options = NetOptions(inputs=dict(args.input), batch=args.batch, warn=warn)
    return open_net(model or args.model, phase=args.phase, level=args.level, stages=args.stage,
                    options=options)


def warn(message: str) -> None:
    print(f"netdef: warning: {message}", file=sys.stderr)


def info(message: str) -> None:
    """A log line for the user (stderr, like Caffe's glog), not a warning."""
    print(message, file=sys.stderr)


def fail(err: NetdefError) -> int:
    print(f"netdef: {err}", file=sys.stderr)
    return 1
