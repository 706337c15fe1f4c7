"""Print or plot a solver's learning rate per iteration (no torch needed).

Examples:
  netdef schedule --solver solver.prototxt              # one line per change
  netdef schedule --solver solver.prototxt --every 1000
  netdef schedule --solver solver.prototxt -o lr.png
"""
from __future__ import annotations


def add_arguments(ap) -> None:
    ap.add_argument("--solver", required=True, help="solver prototxt")
    ap.add_argument("-o", "--output", default=None, metavar="LR.png", help="draw the schedule (matplotlib)")
    ap.add_argument("--every", type=int, default=None, metavar="N",
                    help="print every N-th iteration (default: only where the rate changes)")
    ap.add_argument("--iterations", type=int, default=None, metavar="N", help="override max_iter")


def run(args) -> int:
    from netdef.solver.log import g
    from netdef.solver.params import read_solver_file
    from netdef.solver.policies import schedule

    spec = read_solver_file(args.solver)
    p = spec.param
    if args.iterations is not None:
        p.max_iter = args.iterations
    rates = schedule(p)
    print(f"# lr_policy {p.lr_policy}, base_lr {g(p.base_lr)}, max_iter {p.max_iter}")
    last = None
    for it, rate in rates:
        show = (it % args.every == 0) if args.every else rate != last
        if show or it == len(rates) - 1:
            print(f"{it} {g(rate)}")
        last = rate
    if args.output:
        _plot(rates, p, args.output)
    return 0


def _plot(rates, p, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from netdef.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot([r[0] for r in rates], [r[1] for r in rates], lw=1.5, drawstyle="steps-post")
    ax.set_xlabel("iteration")
    ax.set_ylabel("learning rate")
    ax.set_title(f"lr_policy: {p.lr_policy}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.rsplit(".", 1)[-1] if "." in path else "png", dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
