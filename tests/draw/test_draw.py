"""`netdef draw`: what the graph shows (nodes, labels, edges, in-place folding),
the output files (format by suffix, atomic writes, .dot fallback without `dot`)."""
import os
import shutil
import subprocess
import sys

import graphviz
import pytest

import netdef
from netdef.cli import main
from netdef.draw import plan, to_dot, write_picture

INPUT = ('layer { name: "data" type: "Input" top: "data" '
         'input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }\n')


def conv(name, bottom, top=None, n=4, extra=""):
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top or name}" {extra}'
            f'convolution_param {{ num_output: {n} kernel_size: 3 pad: 1 }} }}\n')


def ip(name, bottom, top=None, extra=""):
    return (f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{top or name}" '
            f'{extra}inner_product_param {{ num_output: 5 }} }}\n')


SMALL = 'name: "small"\n' + INPUT + conv("conv1", "data") + conv("conv2", "conv1", "c2", n=6) + \
    ip("fc", "c2", extra="loss_weight: 1 ")


def source(text, rankdir="TB"):
    return to_dot(netdef.infer_shapes(netdef.open_net(text)), rankdir=rankdir).source


def test_small_net_nodes_labels_edges():
    src = source(SMALL)
    assert 'label="small  ·  phase TEST  ·  batch 2  ·  ' in src and "rankdir=TB" in src
    # one box per layer: name, type + key params (spec.summary), parameter count
    assert "<B>conv1</B>" in src and "Convolution  4 3x3/1 pad 1" in src and "112 params" in src
    assert "<B>conv2</B>" in src and "Convolution  6 3x3/1 pad 1" in src and "222 params" in src
    assert "<B>fc</B>" in src and "InnerProduct  5" in src and "1,925 params" in src
    # blobs as edges labelled with shapes; the name shows when it differs from the layer's
    assert 'layer0 -> layer1 [label=" 2x3x8x8"]' in src
    assert 'layer1 -> layer2 [label=" 2x4x8x8"]' in src
    assert 'layer2 -> layer3 [label=" c2\\n 2x6x8x8"]' in src
    assert 'out0 [label="fc\\n2x5"' in src and 'layer3 -> out0 [label=""]' in src
    assert source(SMALL, rankdir="LR").count("rankdir=LR") == 1


def test_styles_come_from_role_loss_and_params():
    drawing = plan(netdef.infer_shapes(netdef.open_net(SMALL)))
    assert [b.style for b in drawing.boxes] == ["input", "weights", "weights", "loss"]
    src = source(SMALL)
    assert src.count('fillcolor="#d8f0d2"') == 1   # input
    assert src.count('fillcolor="#fbd5d5"') == 1   # loss (loss_weight on a top)
    assert src.count('fillcolor="#d6e6fa"') == 2   # layers with weights


RELU = 'layer {{ name: "{0}" type: "ReLU" bottom: "{1}" top: "{1}" }}\n'


def test_in_place_layers_fold_into_the_producer():
    text = INPUT + conv("conv1", "data") + RELU.format("relu1", "conv1") + \
        'layer { name: "drop1" type: "Dropout" bottom: "conv1" top: "conv1" }\n' + ip("fc", "conv1")
    drawing = plan(netdef.infer_shapes(netdef.open_net(text)))
    assert [[ls.layer.name for ls in b.rows] for b in drawing.boxes] == [
        ["data"], ["conv1", "relu1", "drop1"], ["fc"]]
    assert [(e.src, e.dst, e.blob) for e in drawing.edges] == [
        ("layer0", "layer1", "data"), ("layer1", "layer4", "conv1"), ("layer4", "out0", "fc")]
    src = to_dot(netdef.infer_shapes(netdef.open_net(text))).source
    assert "relu1: ReLU" in src and "drop1: Dropout" in src and "<HR/>" in src
    assert "<B>relu1</B>" not in src


def test_in_place_after_a_read_is_its_own_box_in_a_chain():
    # fc_a reads conv1 before relu1 changes it: relu1 cannot fold, it chains instead.
    text = INPUT + conv("conv1", "data") + ip("fc_a", "conv1") + RELU.format("relu1", "conv1") + \
        ip("fc_b", "conv1") + RELU.format("relu_in", "data")
    drawing = plan(netdef.infer_shapes(netdef.open_net(text)))
    names = [[ls.layer.name for ls in b.rows] for b in drawing.boxes]
    assert names == [["data"], ["conv1"], ["fc_a"], ["relu1"], ["fc_b"], ["relu_in"]]
    edges = [(e.src, e.dst, e.blob) for e in drawing.edges if not e.dst.startswith("out")]
    assert edges == [("layer0", "layer1", "data"), ("layer1", "layer2", "conv1"),
                     ("layer1", "layer3", "conv1"), ("layer3", "layer4", "conv1"),
                     ("layer0", "layer5", "data")]   # never folded into an Input box
    assert sorted(o.blob for o in drawing.outputs) == ["data", "fc_a", "fc_b"]


def test_names_are_escaped_in_html_labels():
    text = INPUT + conv("a<b>&c", "data", top="x")
    src = source(text)
    assert "<B>a&lt;b&gt;&amp;c</B>" in src


# -- output files -----------------------------------------------------------------------

def test_missing_dot_writes_the_source_and_says_how_to_install(tmp_path, monkeypatch, capsys):
    def no_dot(self, *args, **kwargs):
        raise graphviz.ExecutableNotFound(("dot",))

    monkeypatch.setattr(graphviz.Digraph, "pipe", no_dot)
    model = tmp_path / "small.prototxt"
    model.write_text(SMALL)
    out = tmp_path / "pic.png"
    assert main(["draw", str(model), "-o", str(out)]) == 0  # graphviz is optional
    err = capsys.readouterr().err
    assert f"wrote {tmp_path / 'pic.dot'}" in err and "apt-get install graphviz" in err
    assert f"dot -Tpng {tmp_path / 'pic.dot'} -o {out}" in err
    assert not out.exists() and "digraph net" in (tmp_path / "pic.dot").read_text()


def test_bad_model_leaves_existing_picture(tmp_path, capsys):
    out = tmp_path / "net.png"
    out.write_bytes(b"old picture")
    bad = tmp_path / "bad.prototxt"
    bad.write_text(INPUT + conv("conv1", "data") +
                   'layer { name: "c2" type: "Convolution" bottom: "conv1" top: "c2" '
                   'convolution_param { num_output: 4 kernel_size: 3 group: 3 } }\n')
    assert main(["draw", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3:" in err and 'layer "c2" (Convolution)' in err and "group 3" in err
    assert out.read_bytes() == b"old picture"
    assert sorted(os.listdir(tmp_path)) == ["bad.prototxt", "net.png"]


def test_unknown_suffix_is_refused_before_any_work(tmp_path, capsys):
    model = tmp_path / "small.prototxt"
    model.write_text(SMALL)
    assert main(["draw", str(model), "-o", str(tmp_path / "x.bmp")]) == 1
    assert 'cannot tell the picture format of' in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["small.prototxt"]


def test_default_output_is_model_stem_png_in_the_current_folder(tmp_path, monkeypatch):
    model = tmp_path / "models" / "lenet.prototxt"
    model.parent.mkdir()
    model.write_text(SMALL)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(graphviz.Digraph, "pipe", lambda self, format: b"\x89PNG fake " + format.encode())
    assert main(["draw", str(model)]) == 0
    assert (work / "lenet.png").read_bytes() == b"\x89PNG fake png"


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` not installed")
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF"),
                                           (".dot", b"digraph")])
def test_formats_by_suffix(tmp_path, suffix, magic):
    path = str(tmp_path / f"net{suffix}")
    written = write_picture(to_dot(netdef.infer_shapes(netdef.open_net(SMALL))), path)
    assert written.rendered and written.path == path
    with open(path, "rb") as fh:
        assert fh.read().startswith(magic)


def test_draw_does_not_import_torch(tmp_path):
    model = tmp_path / "small.prototxt"
    model.write_text(SMALL)
    code = ("import sys; sys.modules['torch'] = None\n"
            "from netdef.cli import main\n"
            f"sys.exit(main(['draw', {str(model)!r}, '-o', {str(tmp_path / 'n.dot')!r}]))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert run.returncode == 0, run.stderr
    assert "<B>conv1</B>" in (tmp_path / "n.dot").read_text()
