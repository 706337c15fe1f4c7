"""The tiny data-parallel case: an HDF5-fed net and its solvers, in a scratch folder."""
from __future__ import annotations

import numpy as np
import pytest

NET = """name: "tiny"
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TRAIN }
  hdf5_data_param { source: "list.txt" batch_size: 3 } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "gaussian" std: 0.1 }
                      bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
  param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""

# The same net with a branch no loss reaches (DDP must then look for unused parameters).
SIDE = NET.replace('layer { name: "loss"', 'layer { name: "side" type: "InnerProduct" bottom: "data" top: "side"\n'
                   '  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.1 } } }\n'
                   'layer { name: "silence" type: "Silence" bottom: "side" }\nlayer { name: "loss"')

SOLVER = """net: "{net}"
type: "SGD"
base_lr: 0.1
momentum: 0.9
weight_decay: 0.0005
lr_policy: "step"
gamma: 0.5
stepsize: 2
max_iter: {max_iter}
iter_size: {iter_size}
display: 1
snapshot: 2
snapshot_prefix: "{prefix}"
random_seed: 7
"""


@pytest.fixture
def case(tmp_path, monkeypatch):
    """Two HDF5 files of 7 and 10 rows (shares straddle files and wrap around mid-batch),
    the nets, solvers (*_side: with a branch no loss reaches)."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    names = []
    for k, rows in enumerate((7, 10)):
        with h5py.File(tmp_path / f"d{k}.h5", "w") as f:
            f["data"] = rng.standard_normal((rows, 2, 6, 6)).astype(np.float32)
            f["label"] = rng.integers(0, 5, rows).astype(np.float32)
        names.append(f"d{k}.h5")
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    (tmp_path / "net.prototxt").write_text(NET)
    (tmp_path / "side.prototxt").write_text(SIDE)
    for name, net, iter_size, max_iter in (("one", "net", 2, 4), ("two", "net", 1, 4), ("long", "net", 1, 100000),
                                           ("one_side", "side", 2, 4), ("two_side", "side", 1, 4)):
        (tmp_path / f"{name}.prototxt").write_text(SOLVER.format(net=f"{net}.prototxt", max_iter=max_iter,
                                                                 iter_size=iter_size, prefix=f"snap_{name}"))
    monkeypatch.chdir(tmp_path)
    return tmp_path
