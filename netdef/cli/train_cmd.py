"""Train a net with Caffe's solver semantics: Caffe's `caffe train`.

Examples:
  netdef train --solver solver.prototxt
  netdef train --solver solver.prototxt --weights pretrained.caffemodel
  netdef train --solver solver.prototxt --snapshot snapshot_iter_1000.solverstate

Writes Caffe's log lines on stderr (a progress bar on a terminal),
<snapshot_prefix>_iter_N.caffemodel/.solverstate snapshots,
<snapshot_prefix>_log.jsonl and, at the end, <snapshot_prefix>_curves.png.

Data-parallel (Caffe's multi-GPU semantics: batch x processes, gradients averaged,
rank 0 tests, logs and snapshots):
  netdef train --solver solver.prototxt --gpu 0,1          # or --gpu all: one process per GPU
  torchrun --nproc_per_node 2 -m netdef train --solver solver.prototxt   # CPU processes (gloo)
  torchrun --nproc_per_node 4 -m netdef train --solver S --gpu all       # GPU LOCAL_RANK of the list
"""
from __future__ import annotations

import os
import sys

from netdef.cli.device import add_execution_args, execution_from_args
from netdef.errors import NetdefError, SolverError


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
    ap.add_argument("--gpu", default=None, metavar="ID[,ID...]|all",
                    help="train on CUDA device ID; several IDs or `all`: one data-parallel process per GPU "
                         "(default: the solver's solver_mode/device_id, else CPU)")
    ap.add_argument("--iterations", type=int, default=None, metavar="N", help="override max_iter")
    ap.add_argument("--no-plot", action="store_true", help="do not write <snapshot_prefix>_curves.png")
    add_execution_args(ap)


def run(args) -> int:
    if args.weights and args.snapshot:
        raise SolverError("give --snapshot to resume training or --weights to finetune, not both")
    from netdef.parallel.world import World

    world = World.from_env()
    gpus = _gpus(args)
    if len(gpus) > 1 and not world.distributed:   # --gpu 0,1 / all: one process per GPU, watched here
        from netdef.parallel.launch import launch

        return launch(_worker, args, len(gpus), gpus)
    if world.distributed:
        return _run_rank(args, world, gpus or _solver_gpus(args))
    return _train(args, world)


def _solver_gpus(args) -> list[int]:
    """Under torchrun without --gpu: every GPU when the solver says solver_mode: GPU (and
    there are GPUs), so process LOCAL_RANK takes GPU LOCAL_RANK; else none (CPU, gloo)."""
    import torch

    from netdef.solver.params import read_solver_file

    p = read_solver_file(args.solver).param
    if p.HasField("solver_mode") and p.solver_mode == p.GPU and torch.cuda.is_available():
        return list(range(torch.cuda.device_count()))
    return []


def _train(args, world, device=None) -> int:
    from netdef.backend.cpu import reuse_freed_memory
    from netdef.solver.log import TrainLog
    from netdef.solver.params import read_solver_file
    from netdef.solver.signals import SignalActions

    reuse_freed_memory()
    spec = read_solver_file(args.solver)
    if args.iterations is not None:
        spec.param.max_iter = args.iterations
    device = device or _device(args, spec)
    stages = [s for entry in args.stage or [] for s in entry.split(",") if s]
    log = TrainLog(sys.stderr if world.is_root else None)
    log.emit("caffe.cpp:197", "Use CPU." if device == "cpu" else f"Using GPUs {device.split(':')[1]}")
    with SignalActions(args.sigint_effect, args.sighup_effect) as actions:
        solver = _make_solver(spec, args, device, stages, log, actions, world)
        interrupted = False
        try:
            log.emit("caffe.cpp:239", "Starting Optimization")
            solver.solve()
        except KeyboardInterrupt:       # a second Ctrl-C: leave at once, no picture
            interrupted = True
            raise
        finally:
            log.close()
            if not (args.no_plot or interrupted):
                _plot(solver, log)
    log.emit("caffe.cpp:250", "Optimization Done.")
    return 0


def _gpus(args) -> list[int]:
    if args.gpu is None:
        return []
    import torch

    from netdef.parallel.world import parse_gpus

    return parse_gpus(args.gpu, torch.cuda.device_count() if torch.cuda.is_available() else 0)


def _run_rank(args, world, gpus) -> int:
    """One process of a data-parallel run (started by torchrun or by _worker)."""
    from netdef.parallel import group

    if gpus and world.local_rank >= len(gpus):
        raise SolverError(f"LOCAL_RANK {world.local_rank} but --gpu lists {len(gpus)} device(s): start at "
                          "most one process per listed GPU")
    device = f"cuda:{gpus[world.local_rank]}" if gpus else "cpu"
    import torch

    group.join(world, torch.device(device))
    try:
        with group.failures(world, "training"):
            return _train(args, world, device)
    finally:
        group.leave()


def _worker(args) -> int:
    """Entry of a process started by `--gpu 0,1`: errors end as one line, as in netdef.cli.main."""
    from netdef.parallel.world import World

    try:
        return run(args)
    except NetdefError as err:
        print(f"netdef: [rank {World.from_env().rank}] {err}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130


def _make_solver(spec, args, device, stages, log, actions, world):
    from netdef.parallel.solver import ParallelSolver
    from netdef.solver.solver import Solver

    weights = [] if args.snapshot else args.weights      # --snapshot drops the solver's weights, as Caffe
    execution = execution_from_args(args)
    if str(device).startswith("cuda"):  # cuDNN defaults to TF32; Caffe's float32 unless --allow-tf32
        from netdef.backend.execution import set_tf32

        set_tf32(execution.allow_tf32)
    common = {"weights": weights, "device": device, "phase": args.phase, "level": args.level,
              "stages": stages or None, "log": log, "actions": actions}
    if world.distributed or not execution.is_default:
        solver = ParallelSolver(spec, world=world, execution=execution, **common)
    else:
        solver = Solver(spec, **common)
    if args.snapshot:
        log.emit("caffe.cpp:233", f"Resuming from {args.snapshot}")
        solver.restore(args.snapshot)
    return solver


def _device(args, spec) -> str:
    """--gpu, else the solver's solver_mode: GPU (device_id), else the CPU. A
    solver asking for a GPU on a machine without one trains on the CPU, with a warning."""
    from netdef.cli.device import pick_device
    from netdef.solver.device import solver_device

    if args.gpu is not None:
        return str(pick_device(args.gpu))
    return str(solver_device(spec, lambda message: print(f"netdef: warning: {message}", file=sys.stderr)))


def _plot(solver, log) -> None:
    """<snapshot_prefix>_curves.png from the JSONL log (netdef.logs, when installed)."""
    path = getattr(log, "jsonl_path", None)
    if not path or not os.path.exists(path) or not os.path.getsize(path):
        return
    try:
        from netdef.logs.plot import plot_file
    except ImportError:
        return
    try:
        plot_file(path, solver.prefix + "_curves.png")
    except Exception as err:  # noqa: BLE001  a plot must never fail a finished training run
        print(f"netdef: warning: could not draw the curves: {err}", file=sys.stderr)
