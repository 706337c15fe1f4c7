"""Draw a net with graphviz: layers as boxes, blobs as edges labelled with shapes.

Example: netdef draw models/bvlc_googlenet/deploy.prototxt -o googlenet.svg
The format comes from -o's suffix (.png, .svg, .pdf, .dot); the default is
<model stem>.png in the current folder. In-place layers (ReLU after a conv)
are folded into the box of the layer whose output they modify. Without the
graphviz `dot` program the .dot source is written instead (and that is success:
graphviz is optional; the message says how to render it).
"""
from __future__ import annotations

import os
import sys

from netdef.cli.common import add_net_args, net_from_args


def add_arguments(ap) -> None:
    add_net_args(ap)
    ap.add_argument("-o", "--output", metavar="FILE",
                    help="picture to write: .png, .svg, .pdf or .dot (default: <model stem>.png here)")
    ap.add_argument("--rankdir", default="TB", type=str.upper, choices=["TB", "LR", "BT", "RL"],
                    help="direction of the data flow: TB top to bottom (default), LR left to right")


def run(args) -> int:
    from netdef.draw import picture_format, to_dot, write_picture
    from netdef.shapes import infer_shapes

    output = args.output or os.path.splitext(os.path.basename(args.model))[0] + ".png"
    picture_format(output)  # an unknown suffix fails before any work
    shapes = infer_shapes(net_from_args(args))
    written = write_picture(to_dot(shapes, rankdir=args.rankdir), output)
    if not written.rendered:  # graphviz is optional: the .dot source is the result
        print(f"netdef: wrote {written.path}; {written.hint}", file=sys.stderr)
        return 0
    print(f"netdef: wrote {written.path}", file=sys.stderr)
    return 0
