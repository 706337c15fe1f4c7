"""Caffe's protobuf messages, built from netdef's own schema (protos/caffe.proto).

`from netdef.proto import caffe_pb2` gives the same names pycaffe users know
(caffe_pb2.NetParameter, caffe_pb2.TRAIN, caffe_pb2.PoolingParameter.MAX ...).
"""
from netdef.proto import caffe_pb2  # noqa: F401
