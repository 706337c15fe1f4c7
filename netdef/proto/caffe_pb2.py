"""Message classes for caffe.proto, loaded from the committed descriptor.

The descriptor lives in a private pool so that netdef can be imported beside
pycaffe (whose caffe_pb2 registers the same 'caffe.proto' in the default pool).
"""
import pathlib

from google.protobuf import descriptor_pool
from google.protobuf.internal import builder as _builder

_POOL = descriptor_pool.DescriptorPool()
DESCRIPTOR = _POOL.AddSerializedFile(pathlib.Path(__file__).with_name("caffe.desc").read_bytes())
_builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, globals())
_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, __name__, globals())
