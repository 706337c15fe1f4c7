"""Train a net with Caffe's solver semantics: Caffe's `caffe train`.

Examples:
  netdef train --solver solver.prototxt
  netdef train --solver solver.prototxt --weights pretrained.caffemodel
  netdef train --solver solver.prototxt --snapshot snapshot_iter_1000.solverstate

Writes Caffe's log lines on stderr (a progress bar on a terminal),
<snapshot_prefix>_iter_N.caffemodel/.solverstate snapshots,
<snapshot_prefix>_log.jsonl and, at the end, <snapshot_prefix>_curves.png.
"""
from __future__ import annotations

import os
import sys

from netdef.errors import SolverError


def add_arguments(ap) -> None:
    ap.add_argument("--solver", required=True, help="solver prototxt (Caffe's SolverParameter)")
    ap.add_argument("--weights", default=None, metavar="A.caffemodel[,B.caffemodel]",
                    help="weights to finetune from (replace the solver's `weights`); not with --snapshot")
    ap.add_argument("--snapshot", default=None, metavar="S.solverstate",
                    help="resume from a .solverstate (netdef's or Caffe's); not with --weights")
    ap.add_argument("--phase", default=None, type=str.upper, choices=["TRAIN"],
                    help="the train net's phase (always TRAIN; test nets use TEST)")
    ap.add_argument("--level", type=int, default=None, help="train_state level")
    ap.add_argument("--stage", action="append", default=None, metavar="NAME",
                    help="train_state stage (repeat or separate with ',' for several)")
    ap.add_argument("--sigint-effect", default="stop", choices=["stop", "snapshot", "none"],
                    help="what SIGINT (Ctrl-C) does (default stop; a second Ctrl-C exits at once)")
    ap.add_argument("--sighup-effect", default="snapshot", choices=["stop", "snapshot", "none"],
                    help="what SIGHUP does (default snapshot)")
    ap.add_argument("--gpu", default=None, metavar="ID",
                    help="train on CUDA device ID (default: the solver's solver_mode/device_id, else CPU)")
    ap.add_argument("--iterations", type=int, default=None, metavar="N", help="override max_iter")
    ap.add_argument("--no-plot", action="store_true", help="do not write <snapshot_prefix>_curves.png")


def run(args) -> int:
    if args.weights and args.snapshot:
        raise SolverError("give --snapshot to resume training or --weights to finetune, not both")
    from netdef.backend.cpu import reuse_freed_memory
    from netdef.solver.log import TrainLog
    from netdef.solver.params import read_solver_file
    from netdef.solver.signals import SignalActions

    reuse_freed_memory()
    spec = read_solver_file(args.solver)
    if args.iterations is not None:
        spec.param.max_iter = args.iterations
    device = _device(args, spec)
    stages = [s for entry in args.stage or [] for s in entry.split(",") if s]
    log = TrainLog(sys.stderr)
    log.emit("caffe.cpp:197", "Use CPU." if device == "cpu" else f"Using GPUs {device.split(':')[1]}")
    with SignalActions(args.sigint_effect, args.sighup_effect) as actions:
        solver = _make_solver(spec, args, device, stages, log, actions)
        try:
            log.emit("caffe.cpp:239", "Starting Optimization")
            solver.solve()
        finally:
            log.close()
            if not args.no_plot:
                _plot(solver, log)
    log.emit("caffe.cpp:250", "Optimization Done.")
    return 0


def _make_solver(spec, args, device, stages, log, actions):
    from netdef.solver.solver import Solver

    weights = [] if args.snapshot else args.weights      # --snapshot drops the solver's weights, as Caffe
    solver = Solver(spec, weights=weights, device=device, phase=args.phase, level=args.level,
                    stages=stages or None, log=log, actions=actions)
    if args.snapshot:
        log.emit("caffe.cpp:233", f"Resuming from {args.snapshot}")
        solver.restore(args.snapshot)
    return solver


def _device(args, spec) -> str:
    """--gpu, else the solver's solver_mode: GPU (device_id), else the CPU. A
    solver asking for a GPU on a machine without one trains on the CPU, with a warning."""
    from netdef.cli.device import pick_device

    gpu = args.gpu
    p = spec.param
    if gpu is None and p.HasField("solver_mode") and p.solver_mode == p.GPU:
        import torch

        if not torch.cuda.is_available():
            print("netdef: warning: the solver asks for solver_mode: GPU but no CUDA device is available; "
                  "training on the CPU", file=sys.stderr)
            return "cpu"
        gpu = str(p.device_id)
    return str(pick_device(gpu))


def _plot(solver, log) -> None:
    """<snapshot_prefix>_curves.png from the JSONL log (netdef.logs, when installed)."""
    path = getattr(log, "jsonl_path", None)
    if not path or not os.path.exists(path):
        return
    try:
        from netdef.logs.plot import plot_file
    except ImportError:
        return
    try:
        plot_file(path, solver.prefix + "_curves.png")
    except Exception as err:  # noqa: BLE001  a plot must never fail a finished training run
        print(f"netdef: warning: could not draw the curves: {err}", file=sys.stderr)
