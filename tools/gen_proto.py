"""Regenerate netdef/proto/caffe.desc from protos/caffe.proto.

netdef commits a serialized FileDescriptorProto rather than protoc's
generated Python: generated code pins the protobuf runtime to the exact
version of the protoc that made it, while a descriptor loads on any
protobuf >= 4.21. Needs the dev extra (grpcio-tools bundles protoc).

    python tools/gen_proto.py          # rewrite netdef/proto/caffe.desc
    python tools/gen_proto.py --check  # exit 1 if it is out of date
"""
import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROTO = ROOT / "protos" / "caffe.proto"
DESC = ROOT / "netdef" / "proto" / "caffe.desc"


def compile_descriptor() -> bytes:
    """Run protoc (from grpcio-tools) and return caffe.proto's FileDescriptorProto."""
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "caffe.pb"
        rc = protoc.main(["protoc", f"-I{PROTO.parent}", f"--descriptor_set_out={out}", str(PROTO)])
        if rc != 0:
            raise SystemExit(f"protoc failed on {PROTO} (exit {rc})")
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    (fdp,) = fds.file
    return fdp.SerializeToString(deterministic=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = ap.parse_args(argv)
    fresh = compile_descriptor()
    if args.check:
        if not DESC.exists() or DESC.read_bytes() != fresh:
            print(f"{DESC.relative_to(ROOT)} is stale: run python tools/gen_proto.py", file=sys.stderr)
            return 1
        return 0
    DESC.write_bytes(fresh)
    print(f"wrote {DESC.relative_to(ROOT)} ({len(fresh)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
