"""`netdef <command>`: a thin layer over library calls a Python user can make too."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from netdef.errors import NetdefError

# command -> module under netdef.cli that defines add_arguments(ap) and run(args)
COMMANDS = {
    "shapes": "shapes_cmd",
    "draw": "draw_cmd",
    "upgrade": "upgrade_cmd",
    "test": "test_cmd",
    "time": "time_cmd",
    "parse-log": "parse_log_cmd",
    "plot": "plot_cmd",
    "train": "train_cmd",
    "schedule": "schedule_cmd",
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


def quiet_thread_pool() -> None:
    """Make OpenMP worker threads sleep, not spin, while they wait for work.

    Must run before torch loads libgomp. On a shared machine spinning workers
    take the cores other processes need (and each other's): measured on this
    2-core VM under load, a 40-iteration solve of the reference net took 3.6 s
    with spinning threads and 0.3-0.5 s with passive ones. An explicit
    OMP_WAIT_POLICY or GOMP_SPINCOUNT from the user wins."""
    if "GOMP_SPINCOUNT" not in os.environ:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv=None) -> int:
    quiet_thread_pool()
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
