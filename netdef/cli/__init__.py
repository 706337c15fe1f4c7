"""`netdef <command>`: a thin layer over library calls a Python user can make too."""
from __future__ import annotations

import argparse
import importlib
import sys

from netdef.errors import NetdefError

# command -> module under netdef.cli that defines add_arguments(ap) and run(args)
COMMANDS = {
    "shapes": "shapes_cmd",
    "draw": "draw_cmd",
    "upgrade": "upgrade_cmd",
    "test": "test_cmd",
    "time": "time_cmd",
    "convert-imageset": "convert_imageset_cmd",
    "compute-mean": "compute_mean_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="netdef", description="Caffe-compatible network compiler.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"netdef.cli.{module_name}")
        doc = (module.__doc__ or "").strip().splitlines()
        p = sub.add_parser(name, help=doc[0] if doc else None, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except NetdefError as err:
        print(f"netdef: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("netdef: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
