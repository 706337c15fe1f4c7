"""`netdef <command>`: a thin layer over library calls a Python user can make too."""
from __future__ import annotations

import argparse
import importlib
import os
import signal
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
    "export": "export_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    from netdef import __version__

    ap = argparse.ArgumentParser(prog="netdef", description="Caffe-compatible network compiler.")
    ap.add_argument("--version", action="version", version=f"netdef {__version__}")
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
    """Let OpenMP worker threads spin only briefly before they sleep.

    Must run before torch loads libgomp. On a shared machine workers spinning
    for libgomp's default 300,000 rounds take the cores other processes need (and
    each other's). Sleeping at once (OMP_WAIT_POLICY=PASSIVE) costs every small
    op a wake-up. bench/results/train.json (AlexNet's SGD step, 2-core VM): 1,000
    rounds 416 ms idle and 1.91x slower beside one busy process; passive 450 ms and
    1.66x; libgomp's default 416 ms and 2.71x. An explicit OMP_WAIT_POLICY or
    GOMP_SPINCOUNT from the user wins."""
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = "1000"


def main(argv=None) -> int:
    quiet_thread_pool()
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except NetdefError as err:
        print(f"netdef: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # more Ctrl-C while leaving change nothing
        print("netdef: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
