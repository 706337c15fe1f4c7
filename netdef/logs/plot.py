"""Training curves: loss, test outputs and learning rate against iteration.

One column of panels sharing the iteration axis: losses (train and test), the
other outputs (accuracy...), and the learning rate on a log scale. matplotlib's
object API with the Agg canvas: no pyplot state, no display needed.
"""
from __future__ import annotations

import math
import os

from netdef.atomic import atomic_path
from netdef.errors import NetdefError, Where
from netdef.logs import log_kind, parse_log, read_any
from netdef.logs.tables import BASE_COLUMNS

FORMATS = ("png", "svg", "pdf")
SMOOTH_FROM = 60  # points: from here a running mean is drawn over the raw train curve


def plot_file(log_path, png_path, title: str | None = None) -> str:
    """Draw the curves of any training log netdef reads (glog, .train/.test, JSONL)
    into `png_path` (.png, .svg or .pdf), written atomically; returns the path."""
    log_path, png_path = os.fspath(log_path), os.fspath(png_path)
    fmt = _format(png_path)
    rates = []
    if log_kind(log_path) == "glog":  # the rates as printed, not lagged as in the tables
        train, test = parse_log(log_path, rates)
    else:
        train, test = read_any(log_path)
    if not train and not test:
        raise NetdefError("no rows to plot (the tables are empty)", where=Where(log_path))
    fig = draw(train, test, title or default_title(log_path), rates or None)
    with atomic_path(png_path) as tmp:
        try:
            fig.savefig(tmp, format=fmt, dpi=110)
        except OSError as err:
            raise NetdefError(f"cannot write: {err.strerror or err}", where=Where(png_path)) from None
    return png_path


def _format(path: str) -> str:
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    if fmt not in FORMATS:
        raise NetdefError(f"cannot tell the picture format from the name; use one of "
                          f"{', '.join('.' + f for f in FORMATS)}", where=Where(path))
    return fmt


def default_title(log_path: str) -> str:
    name = os.path.basename(log_path)
    stem, suffix = os.path.splitext(name)
    return stem if suffix in (".train", ".test") else name


def outputs(rows: list[dict]) -> list[str]:
    names = []
    for row in rows:
        names.extend(k for k in row if k not in BASE_COLUMNS and k not in names)
    return names


def series(rows: list[dict], name: str) -> tuple[list[float], list[float]]:
    """(iterations, values of `name`; NaN where a row lacks it)."""
    return [r["NumIters"] for r in rows], [r.get(name, math.nan) for r in rows]


def label(phase: str, name: str) -> str:
    """"test accuracy", or "test net 1 accuracy" for the `accuracy#1` column."""
    base, _, net = name.partition("#")
    return f"{phase} net {net} {base}" if net else f"{phase} {base}"


def is_loss(name: str) -> bool:
    """By name, as Caffe nets name them: `loss`, `loss3/loss3`, `rpn_loss_bbox` are
    losses; `accuracy`, `loss1/top-5` (GoogLeNet's auxiliary heads) are not."""
    return "loss" in name.partition("#")[0].rsplit("/", 1)[-1].lower()


def draw(train: list[dict], test: list[dict], title: str, rates: list | None = None):
    """A matplotlib Figure with one panel per kind of curve present; the rate
    panel draws `rates` [(iteration, rate)] when given, else the rows' LearningRate."""
    from matplotlib.figure import Figure

    curves = {"loss": [], "other": []}
    for phase, rows in (("train", train), ("test", test)):
        for name in outputs(rows):
            curves["loss" if is_loss(name) else "other"].append((phase, name, rows))
    if rates is None:
        rows = train if _has_values(train, "LearningRate") else test
        rates = list(zip(*series(rows, "LearningRate")))
    rates = [(x, y) for x, y in rates if not math.isnan(y)]
    panels = [k for k in ("loss", "other") if curves[k]] + (["lr"] if rates else [])
    if not panels:
        raise NetdefError("nothing to draw: the log has no outputs and no learning rates")
    heights = [3 if p != "lr" else 1.6 for p in panels]
    fig = Figure(figsize=(9, 1.2 + sum(heights)), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
    for ax, panel in zip(axes, panels):
        if panel == "lr":
            _draw_lr(ax, rates)
        else:
            _draw_outputs(ax, curves[panel], "loss" if panel == "loss" else _common_name(curves[panel]))
    axes[-1].set_xlabel("iteration")
    fig.suptitle(title)
    return fig


def _common_name(curves) -> str:
    names = {name.partition("#")[0] for _, name, _ in curves}
    return names.pop() if len(names) == 1 else "output"


def _has_values(rows: list[dict], name: str) -> bool:
    return any(not math.isnan(r.get(name, math.nan)) for r in rows)


def _draw_outputs(ax, curves, ylabel: str) -> None:
    for phase, name, rows in curves:
        x, y = series(rows, name)
        if phase == "train" and len(x) >= SMOOTH_FROM:
            line, = ax.plot(x, y, lw=0.8, alpha=0.35)
            ax.plot(x, running_mean(y, max(2, len(y) // 30)), lw=1.6, color=line.get_color(),
                    label=label(phase, name) + " (running mean)")
        else:
            ax.plot(x, y, lw=1.6, marker="o" if phase == "test" and len(x) <= 60 else None, ms=4,
                    label=label(phase, name))
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")


def _draw_lr(ax, rates: list[tuple[float, float]]) -> None:
    x, y = [r[0] for r in rates], [r[1] for r in rates]
    ax.step(x, y, where="post", color="tab:gray", lw=1.4)
    if all(v > 0 for v in y):
        ax.set_yscale("log")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3, which="both")


def running_mean(values: list[float], window: int) -> list[float]:
    """Mean of the last `window` values at each point (NaNs skipped), in O(n)."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    finite = ~np.isnan(v)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, v, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    end = np.arange(1, len(v) + 1)
    begin = np.maximum(end - window, 0)
    n = counts[end] - counts[begin]
    with np.errstate(invalid="ignore", divide="ignore"):
        return list(np.where(n > 0, (sums[end] - sums[begin]) / np.maximum(n, 1), np.nan))
