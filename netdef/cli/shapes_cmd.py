"""Per-layer output shapes, parameter counts, MACs and totals of a net.

Example: netdef shapes models/alexnet.prototxt --phase TRAIN
"""
from __future__ import annotations

import json

from netdef.cli.common import add_net_args, net_from_args


def add_arguments(ap) -> None:
    add_net_args(ap)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def run(args) -> int:
    from netdef.shapes import infer_shapes
    from netdef.shapes.report import to_json, to_table

    shapes = infer_shapes(net_from_args(args))
    print(json.dumps(to_json(shapes), indent=1) if args.json else to_table(shapes))
    return 0
