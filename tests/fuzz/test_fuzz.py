"""Fuzzing: whatever the input, netdef raises a NetdefError or succeeds -- no other exception,
no hang past 10 s, no memory blow-up.

A few hundred examples run in CI, derandomized so CI is stable; NETDEF_FUZZ_EXAMPLES=N
runs N per strategy (e.g. 5000) and NETDEF_FUZZ_SEED=<int> explores other inputs.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import resource
import signal
import tempfile
import warnings

import pytest

hypothesis = pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import netdef  # noqa: E402
from netdef.errors import NetdefError  # noqa: E402
from netdef.graph.net import NetOptions  # noqa: E402
from netdef.shapes import infer_shapes  # noqa: E402
from reference import REFERENCE, ROOT  # noqa: E402
from strategies import damaged_bytes, mutated_text, one_layer_net, two_layer_net  # noqa: E402

EXAMPLES = int(os.environ.get("NETDEF_FUZZ_EXAMPLES", "0"))
FUZZ_SEED = os.environ.get("NETDEF_FUZZ_SEED")
HANG_S = 10
MAX_ELEMENTS = 20_000_000  # run forward only on nets whose shapes pass says they are small


def budget(default: int):
    """Settings for one strategy: `default` examples in CI, NETDEF_FUZZ_EXAMPLES on demand."""
    def wrap(test):
        test = settings(max_examples=EXAMPLES or default, deadline=None, derandomize=FUZZ_SEED is None,
                        suppress_health_check=list(HealthCheck), database=None)(test)
        return seed(int(FUZZ_SEED))(test) if FUZZ_SEED is not None else test
    return wrap


@contextlib.contextmanager
def no_hang(what: str):
    """Fail an example that runs longer than HANG_S seconds (SIGALRM; main thread only)."""
    def expired(signum, frame):
        raise TimeoutError(f"{what} ran past {HANG_S} s")
    if not hasattr(signal, "SIGALRM"):  # not on Windows: no watchdog there
        yield
        return
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(HANG_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def only_netdef_errors(fn, *args, what: str = ""):
    """fn(*args); a NetdefError is an answer, anything else a defect -- including a crash
    inside a layer that the runner wrapped (a NetdefError caused by a foreign exception):
    what the shapes pass accepted must run."""
    with no_hang(what), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args)
        except NetdefError as err:
            cause = err.__cause__
            if cause is not None and not isinstance(cause, NetdefError):
                raise AssertionError(f"{what}\nthe shapes pass accepted it, then: {err}") from cause
            return None


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # HDF5Output and friends write where they run


@pytest.fixture(scope="module", autouse=True)
def memory_stays_bounded():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 3072, f"fuzzing grew the peak memory by {grown_mib:.0f} MiB"


# -- prototxt --------------------------------------------------------------------------
def _reference_texts() -> list[str]:
    paths = sorted(REFERENCE.glob("nets/**/*.prototxt")) if REFERENCE.is_dir() else []
    paths = [p for p in paths if "solver" not in p.name and p.stat().st_size < 20_000][:20]
    paths.append(ROOT / "models" / "alexnet.prototxt")
    return [p.read_text() for p in paths]


TEXTS = _reference_texts()


def shapes_then_maybe_run(text: str, inputs: dict | None = None):
    """The shapes pass; then, for a small net, forward and backward on inputs of the shapes
    it found (generated nets keep their own shapes; reference nets get --batch 2)."""
    batch = None if inputs else 2
    net = netdef.open_net(text, phase="TRAIN", options=NetOptions(batch=batch, warn=lambda m: None))
    shapes = infer_shapes(net)
    if shapes.total_params + shapes.activation_elements > MAX_ELEMENTS:
        return
    module = netdef.load(text, phase="TRAIN", batch=batch)
    feed = {}
    for name in inputs or net.inputs:  # every net input, fed with the shape the shapes pass found
        shape = shapes.blobs[name]
        feed[name] = torch.randint(-1, 4, shape).float() if name == "x1" else torch.randn(shape)
    run_and_backward(module, feed)


def run_and_backward(module, feed):
    for value in feed.values():
        value.requires_grad_(value.is_floating_point())
    out = module(**feed)
    terms = [v.sum() for v in out.values() if isinstance(v, torch.Tensor) and v.requires_grad]
    if out.loss is not None and out.loss.requires_grad:
        terms.append(out.loss)
    if terms:
        module.backward(torch.stack([t.float() for t in terms]).sum())


@budget(60)
@given(data=st.data())
def test_mutated_reference_nets(data):
    text = data.draw(mutated_text(TEXTS))
    only_netdef_errors(shapes_then_maybe_run, text, what="mutated net")


@budget(150)
@given(net=one_layer_net())
def test_generated_one_layer_nets(net):
    text, inputs = net
    only_netdef_errors(shapes_then_maybe_run, text, inputs, what=text)


@budget(100)
@given(net=two_layer_net())
def test_generated_two_layer_nets(net):
    text, inputs = net
    only_netdef_errors(shapes_then_maybe_run, text, inputs, what=text)


# -- files -------------------------------------------------------------------------------
SMALL_NET = """name: "w"
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }
layer { name: "conv" type: "Convolution" bottom: "x" top: "c"
  convolution_param { num_output: 2 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "bn" type: "BatchNorm" bottom: "c" top: "c" }
layer { name: "ip" type: "InnerProduct" bottom: "c" top: "y" inner_product_param { num_output: 3 } }
"""


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory):
    from netdef.io import save_weights

    folder = tmp_path_factory.mktemp("weights")
    module = netdef.load(SMALL_NET, seed=1)
    return {suffix: pathlib.Path(save_weights(module, str(folder / f"w{suffix}"))).read_bytes()
            for suffix in (".caffemodel", ".h5")}


@budget(60)
@given(data=st.data())
def test_damaged_weights_files(data, weights_files, tmp_path):
    from netdef.io import load_weights

    suffix = data.draw(st.sampled_from(sorted(weights_files)))
    path = tmp_path / f"damaged{suffix}"
    path.write_bytes(data.draw(damaged_bytes(weights_files[suffix])))
    module = netdef.load(SMALL_NET)
    only_netdef_errors(load_weights, module, str(path), what=f"damaged {suffix}")


@pytest.fixture(scope="module")
def lmdb_bytes(tmp_path_factory):
    from netbuild import write_db
    from netdef.proto import caffe_pb2

    pytest.importorskip("lmdb")
    folder = tmp_path_factory.mktemp("lmdb")
    records = [(b"%08d" % i, caffe_pb2.Datum(channels=1, height=4, width=4, data=bytes(range(16)), label=i % 3)
                .SerializeToString()) for i in range(40)]
    path = write_db(folder / "db", "LMDB", records, map_size=1 << 20)
    return (pathlib.Path(path) / "data.mdb").read_bytes()


def data_net(source: str) -> str:
    return (f'name: "d"\nlayer {{ name: "data" type: "Data" top: "data" top: "label"\n'
            f'  data_param {{ source: "{source}" batch_size: 4 backend: LMDB }} }}\n'
            'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }\n'
            'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" }\n')


@budget(40)
@given(data=st.data())
def test_damaged_lmdb(data, lmdb_bytes, tmp_path):
    from netdef.data import db as dbmod

    folder = pathlib.Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "data.mdb").write_bytes(data.draw(damaged_bytes(lmdb_bytes)))

    def read_and_run():
        with dbmod.Database(str(folder), "LMDB") as db:
            for _ in db.items():
                pass
        module = netdef.load(data_net(str(folder)), phase="TRAIN")
        for _ in range(3):
            run_and_backward(module, {})
    only_netdef_errors(read_and_run, what="damaged LMDB")


@budget(40)
@given(values=st.lists(st.binary(max_size=64), min_size=1, max_size=4))
def test_random_datum_records(values, tmp_path):
    from netbuild import write_db

    pytest.importorskip("lmdb")
    folder = pathlib.Path(tempfile.mkdtemp(dir=tmp_path)) / "db"
    write_db(folder, "LMDB", [(b"%04d" % i, v) for i, v in enumerate(values)], map_size=1 << 20)

    def run():
        module = netdef.load(data_net(str(folder)), phase="TRAIN")
        run_and_backward(module, {})
    only_netdef_errors(run, what="random Datum records")


@pytest.fixture(scope="module")
def h5_bytes(tmp_path_factory):
    h5py = pytest.importorskip("h5py")
    import numpy as np

    path = tmp_path_factory.mktemp("h5") / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.random.default_rng(0).random((16, 3), dtype=np.float32), chunks=(4, 3))
        f.create_dataset("label", data=np.arange(16) % 3)
    return path.read_bytes()


@budget(40)
@given(data=st.data())
def test_damaged_hdf5_data(data, h5_bytes, tmp_path):
    name = pathlib.Path(tempfile.mkdtemp(dir=tmp_path)).name
    (tmp_path / f"{name}.h5").write_bytes(data.draw(damaged_bytes(h5_bytes)))
    (tmp_path / f"{name}.txt").write_text(str(tmp_path / f"{name}.h5") + "\n")
    text = (f'name: "h"\nlayer {{ name: "h5" type: "HDF5Data" top: "data" top: "label"\n'
            f'  hdf5_data_param {{ source: "{tmp_path / name}.txt" batch_size: 5 }} }}\n'
            'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }\n'
            'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" }\n')

    def run():
        module = netdef.load(text, phase="TRAIN")
        for _ in range(4):
            run_and_backward(module, {})
    only_netdef_errors(run, what="damaged HDF5")
