"""Data-parallel training with torch.distributed: who this process is (world.py),
the process group and gradient averaging (group.py, ddp.py), and starting one
process per GPU (launch.py). Caffe's multi-GPU semantics: every process runs the
net's own batch on its own share of the data, gradients are averaged before the
update, and only rank 0 tests, logs and snapshots.
"""
