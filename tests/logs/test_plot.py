"""`netdef plot` / `netdef.logs.plot.plot_file`: which panels and curves each kind
of log gives, the PNG itself, atomic writes."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from netdef.cli import main
from netdef.errors import NetdefError
from netdef.logs import parse_log
from netdef.logs.plot import draw, is_loss, plot_file, running_mean


def legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_reference_log_panels(logs_dir):
    rates = []
    train, test = parse_log(logs_dir / "caffe_train.log", rates)
    fig = draw(train, test, "caffe_train.log", rates)
    loss, acc, lr = fig.axes
    assert legend(loss) == ["train loss", "test loss"] and legend(acc) == ["test accuracy"]
    assert acc.get_ylabel() == "accuracy" and lr.get_yscale() == "log"
    x, y = lr.get_lines()[0].get_data()
    # the rate as Caffe printed it: halved at 10, 20, 30 (not one row late)
    assert [y[list(x).index(i)] for i in (9, 10, 20, 30)] == [0.02, 0.01, 0.005, 0.0025]
    assert fig._suptitle.get_text() == "caffe_train.log"


def image(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("name", ["caffe_train.log", "caffe_train_oldglog.log", "caffe_train_oldglog.log.train"])
def test_png_from_reference_logs(logs_dir, tmp_path, name):
    out = tmp_path / "curves.png"
    assert plot_file(logs_dir / name, out) == str(out)
    pixels = image(out)
    assert pixels.shape[0] > 600 and pixels.shape[1] > 800
    # mostly white canvas, with some dark (text, axes) and coloured (curves) pixels
    assert (pixels.min(axis=2) > 240).mean() > 0.6
    assert (pixels.max(axis=2) < 80).mean() > 0.002
    blue = (pixels[..., 2] > 150) & (pixels[..., 0] < 80)   # tab:blue train loss
    assert blue.sum() > 500


def test_jsonl_plot(tmp_path):
    log = tmp_path / "lenet_log.jsonl"
    rows = [{"kind": "train", "iter": i, "seconds": i / 10, "lr": 0.01 * 0.1 ** (i // 500),
             "loss": 2 * math.exp(-i / 300), "outputs": {"loss": 2 * math.exp(-i / 300)}, "images_per_s": 1e3}
            for i in range(0, 1500, 10)]
    rows += [{"kind": "test", "iter": i, "seconds": i / 10, "net": 0, "outputs": {"accuracy": 1 - 1 / (1 + i)}}
             for i in range(0, 1500, 250)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["plot", str(log), "-o", str(tmp_path / "c.svg"), "--title", "LeNet"]) == 0
    svg = (tmp_path / "c.svg").read_text()
    assert "LeNet" in svg and "train loss (running mean)" in svg and "test accuracy" in svg


def test_only_test_rows_and_no_rate(tmp_path):
    fig = draw([], [{"NumIters": 0.0, "Seconds": 0.0, "LearningRate": math.nan, "accuracy": 0.5}], "t")
    assert len(fig.axes) == 1 and legend(fig.axes[0]) == ["test accuracy"]


def test_nothing_to_draw(tmp_path):
    table = tmp_path / "x.log.train"
    table.write_text("NumIters,Seconds,LearningRate\r\n0.0,0.0,\r\n")
    with pytest.raises(NetdefError, match=r"nothing to draw: the log has no outputs and no learning rates"):
        plot_file(table, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_default_output_name(logs_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["plot", str(logs_dir / "caffe_train.log")]) == 0
    assert image(tmp_path / "caffe_train.log.png").size > 0


def test_failure_keeps_an_existing_picture(tmp_path, capsys):
    out = tmp_path / "curves.png"
    out.write_bytes(b"old picture")
    bad = tmp_path / "bad.log"
    bad.write_text("hello\n")
    assert main(["plot", str(bad), "-o", str(out)]) == 1
    assert out.read_bytes() == b"old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.log", "curves.png"]


@pytest.mark.parametrize("name, loss", [("loss", True), ("loss3/loss3", True), ("loss1/top-5", False),
                                        ("accuracy#1", False), ("rpn_loss_bbox", True), ("Loss#2", True)])
def test_loss_panel_by_name(name, loss):
    assert is_loss(name) is loss


def test_running_mean():
    assert running_mean([1, 3, math.nan, 5], 2) == [1, 2, 3, 5]
