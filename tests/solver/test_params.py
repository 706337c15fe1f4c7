"""Reading solver files as Caffe's Solver::Init does, with located errors."""
from __future__ import annotations

import pytest
from solverhelp import RecordingLog, dummy_net, write_solver

from netdef.errors import NetdefError
from netdef.solver import Solver
from netdef.solver.params import read_solver_file


def test_old_solver_type_is_upgraded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), solver_type="ADAGRAD", momentum=None)
    spec = read_solver_file("solver.prototxt")
    assert spec.param.type == "AdaGrad" and not spec.param.HasField("solver_type")
    assert spec.notes == ['upgraded solver_type: ADAGRAD to type: "AdaGrad"']


def test_snapshot_prefix_defaults_as_caffe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), snapshot_prefix=None)
    assert read_solver_file("solver.prototxt").param.snapshot_prefix == "solver"
    (tmp_path / "snaps").mkdir()
    write_solver(tmp_path, dummy_net(), snapshot_prefix='"snaps"')
    assert read_solver_file("solver.prototxt").param.snapshot_prefix == "snaps/solver"


@pytest.mark.parametrize("fields, message", [
    ({"lr_policy": '"stpe"'}, 'solver.prototxt:3:1: unknown lr_policy "stpe"; did you mean "step"?'),
    ({"regularization_type": '"L3"'}, 'solver.prototxt:10:1: regularization_type "L3" is not one of L2, L1'),
    ({"net": '"missing.prototxt"'}, 'solver.prototxt:1:1: net file "missing.prototxt" not found'),
    ({"average_loss": 0}, "solver.prototxt:10:1: average_loss must be >= 1, got 0"),
    ({"test_iter": 5}, "solver.prototxt:10:1: 1 test net(s) but test_interval is 0"),
    ({"train_net": '"net.prototxt"'}, "solver.prototxt:10:1: more than one train net given (net, train_net)"),
    ({"type": '"Adamm"', "solver_type": None}, 'solver.prototxt:10:1: unknown solver type "Adamm"; did you mean "Adam"?'),
    ({"type": '"AdaGrad"'}, "solver.prototxt:4:1: AdaGrad does not use momentum (Caffe requires momentum 0), got 0.9"),
    ({"type": '"RMSProp"', "momentum": None, "rms_decay": 1.5}, "rms_decay must be in [0, 1), got 1.5"),
    ({"solver_type": "SGD", "type": '"SGD"'}, "old solver_type (enum) and new type (string) cannot both be given"),
])
def test_solver_errors_are_located(tmp_path, monkeypatch, fields, message):
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), **fields)
    with pytest.raises(NetdefError) as err:
        Solver("solver.prototxt", log=False)
    assert message in str(err.value)


def test_net_without_loss_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(loss=False))
    with pytest.raises(NetdefError, match=r'solver.prototxt:1:1: the train net "Dummy" has no loss'):
        Solver("solver.prototxt", log=False)


def test_net_path_falls_back_to_the_solver_folder(tmp_path, monkeypatch):
    """Caffe opens `net` relative to the working directory; netdef then tries the solver's folder."""
    write_solver(tmp_path, dummy_net())
    monkeypatch.chdir("/")
    solver = Solver(str(tmp_path / "solver.prototxt"), log=False)
    assert solver.net.net.name == "Dummy"


STAGED = '''name: "Staged"
state { stage: "from-net" }
layer { name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param { shape { dim: 4 dim: 6 } shape { dim: 4 }
    data_filler { type: "gaussian" std: 1 } data_filler { type: "constant" value: 1 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc" include { phase: TEST stage: "a" } }
layer { name: "acc5" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc5"
  accuracy_param { top_k: 2 } include { phase: TEST stage: "b" } }
layer { name: "extra" type: "Power" bottom: "ip" top: "extra" include { phase: TRAIN stage: "x" } }
'''


def test_several_test_nets_with_test_states(tmp_path, monkeypatch):
    """Generic `net` instantiated once per remaining test_iter; test_state per net;
    the net's own `state` merged under the solver's (stages accumulate)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(STAGED)
    (tmp_path / "solver.prototxt").write_text(
        'net: "net.prototxt"\ntest_iter: 2\ntest_iter: 3\ntest_interval: 2\nbase_lr: 0.1\n'
        'lr_policy: "fixed"\nmax_iter: 2\ndisplay: 1\nsnapshot_after_train: false\nrandom_seed: 1\n'
        'train_state { stage: "x" }\ntest_state { stage: "a" }\ntest_state { stage: "b" }\n')
    log = RecordingLog()
    solver = Solver("solver.prototxt", log=log)
    assert list(solver.net.net.state.stage) == ["from-net", "x"]
    assert "extra" in solver.net.layer_keys
    assert [sorted(n.outputs) for n in solver.test_nets] == [["acc", "loss"], ["acc5", "loss"]]
    solver.solve()
    tests = [r for r in log.rows if r["kind"] == "test"]
    assert [(r["iter"], r["net"]) for r in tests] == [(0, 0), (0, 1), (2, 0), (2, 1)]
    assert log.lines.count("Iteration 2, Testing net (#1)") == 1
    # Test nets use the train net's blobs themselves.
    assert solver.test_nets[1].layer_module("ip").weight is solver.net.layer_module("ip").weight


def test_train_net_and_test_net_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(STAGED)
    (tmp_path / "solver.prototxt").write_text(
        'train_net: "net.prototxt"\ntest_net: "net.prototxt"\ntest_iter: 1\ntest_interval: 5\n'
        'test_state { stage: "b" }\nbase_lr: 0.1\nlr_policy: "fixed"\nmax_iter: 1\n'
        'test_compute_loss: true\nsnapshot_after_train: false\n')
    log = RecordingLog()
    Solver("solver.prototxt", log=log).solve()
    assert any(m.startswith("Test loss: ") for m in log.lines)
    assert "Creating test net (#0) specified by test_net file: net.prototxt" in log.lines


def test_layer_wise_reduce_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), layer_wise_reduce="false")
    assert "layer_wise_reduce" in read_solver_file("solver.prototxt").warnings[0]
