#!/usr/bin/env bash
# Wheels for the GPU machine (Python 3.12, x86_64, no internet) into ./.whl (git-ignored),
# so bench/gpu_checks.sh can unpack whichever of netdef's dependencies are missing there.
# Run here (with internet), then carry the folder: run(..., carry=[".whl"]).
set -eu
cd "$(dirname "$0")/.."
python3 -m pip download --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  -d .whl "protobuf>=4.21" "numpy>=1.23" "lmdb>=1.4" "h5py>=3.8" pytest pillow tqdm graphviz
du -sh .whl
