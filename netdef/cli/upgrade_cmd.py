"""Upgrade an old net (V0 or V1 layers, `input_dim:` fields...) to the current format.

Example: netdef upgrade old.prototxt -o new.prototxt
         netdef upgrade old.caffemodel -o new.caffemodel
This applies the upgrades Caffe applies when it loads a net (UpgradeNetAsNeeded)
and writes the result as prototxt text (binary for a .caffemodel input; the
learned blobs are kept). Without -o the text goes to stdout. The output is
written through a temporary file and renamed, so a failure leaves any existing
file as it was; the input is replaced only when -o names it.
"""
from __future__ import annotations

import sys


def add_arguments(ap) -> None:
    ap.add_argument("model", help="old net: prototxt text, or a binary .caffemodel")
    ap.add_argument("-o", "--output", metavar="FILE",
                    help="where to write the upgraded net (default: print the text to stdout)")


def run(args) -> int:
    from google.protobuf import text_format

    from netdef.atomic import write_atomic
    from netdef.errors import NetdefError
    from netdef.parse.upgrade import upgrade_file

    param, notes, binary = upgrade_file(args.model)
    if binary and not args.output:
        raise NetdefError(f"{args.model} is a binary net; name the upgraded file with -o NEW.caffemodel")
    data = param.SerializeToString() if binary else text_format.MessageToString(param).encode("utf-8")
    for note in notes:
        print(f"netdef: upgraded: {note}", file=sys.stderr)
    if not notes:
        print(f"netdef: {args.model} is already in the current format", file=sys.stderr)
    if args.output:
        write_atomic(args.output, data)
        print(f"netdef: wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
    return 0
