#!/usr/bin/env bash
# One-shot GPU checks for netdef (run from the repository root on the GPU machine):
#   1. environment: GPU, torch, which dependencies import (missing ones are unpacked from
#      ./.whl if that folder was carried along: see bench/fetch_wheels.sh)
#   2. throughput table: bench/bench_gpu_train.py (AlexNet, batch 256, fp32 / bf16 /
#      bf16+channels-last / bf16+channels-last+compile vs hand-written; LMDB data pipeline)
#   3. the CUDA variants of the parity tests (pytest -k cuda), incl. `netdef train --gpu all`
#   4. 2 CPU processes with gloo (torchrun): == iter_size 2; a killed process stops the run
#      (SKIP_GLOO=1 leaves it out: CI runs it on the CPU anyway)
# Every part is time-boxed. Everything it writes goes under $OUT (default ./gpu_checks_out):
# summary.txt first, profile/profile.txt (kernel tables and host cProfile per trainer).
# Worst case (every box used up) 540 s; on one H200 with SKIP_GLOO=1 it took 165 s
# (2026-11-29).
#
#   bash bench/gpu_checks.sh          # on the GPU machine
#   bash bench/gpu_checks.sh --cpu    # self-check of the script on a CPU-only machine
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=gpu
[ "${1:-}" = "--cpu" ] && MODE=cpu
OUT=${OUT:-$ROOT/gpu_checks_out}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
START=$(date +%s)
export PYTHONPATH=$ROOT
export PYTHONDONTWRITEBYTECODE=1
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || PY=python

say() { echo "$*" | tee -a "$SUMMARY"; }

# step NAME SECONDS COMMAND...: run with a time box, log to $OUT/NAME.log, record rc and time
step() {
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  echo "=== $name (time box ${limit}s): $*" | tee "$OUT/$name.log"
  if command -v timeout >/dev/null; then
    timeout -k 10 "$limit" "$@" >>"$OUT/$name.log" 2>&1
  else
    "$@" >>"$OUT/$name.log" 2>&1   # no coreutils timeout: unboxed
  fi
  local rc=$?
  local took=$(( $(date +%s) - t0 ))
  local what="ok"
  [ $rc -ne 0 ] && what="FAILED (exit $rc)"
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && what="TIMED OUT after ${limit}s"
  say "$(printf '%-14s %-26s %4ss  log: %s' "$name" "$what" "$took" "$name.log")"
  tail -n +2 "$OUT/$name.log" | tail -n 15
  return 0
}

# -- 1. environment and dependencies ---------------------------------------------------------
deps() {
  # module:wheel-name pairs netdef's checks need; a missing one comes from ./.whl if present
  local missing=()
  for pair in google.protobuf:protobuf numpy:numpy lmdb:lmdb h5py:h5py pytest:pytest \
              iniconfig:iniconfig pluggy:pluggy packaging:packaging pygments:pygments PIL:pillow \
              tqdm:tqdm graphviz:graphviz; do
    local mod=${pair%%:*} whl=${pair##*:}
    if "$PY" -c "import $mod" 2>/dev/null; then
      echo "present: $mod"
    else
      missing+=("$whl")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing: ${missing[*]}"
    if [ -d "$ROOT/.whl" ]; then
      DEPS=$(mktemp -d /tmp/netdef-deps.XXXXXX)   # not under $OUT: nothing large comes back
      for w in "${missing[@]}"; do
        local file
        file=$(ls "$ROOT"/.whl/"$w"-*.whl 2>/dev/null | head -n1)
        if [ -n "$file" ]; then
          "$PY" -m zipfile -e "$file" "$DEPS" && echo "unpacked: $(basename "$file")"
        else
          echo "no wheel for $w in .whl"
        fi
      done
      export PYTHONPATH=$ROOT:$DEPS
    else
      echo "no .whl folder was carried: the parts needing ${missing[*]} will fail"
    fi
  fi
}

say "netdef GPU checks ($MODE mode), $(date -u), OUT=$OUT"
deps > "$OUT/deps.log" 2>&1
cat "$OUT/deps.log"
step env 30 bash -c "date -u; nvidia-smi || echo '(no nvidia-smi)'; $PY bench/gpu_env.py"

# -- 2. throughput table ------------------------------------------------------------------------
if [ $MODE = gpu ]; then
  step bench 300 "$PY" bench/bench_gpu_train.py --out "$OUT/gpu_train.json" --budget-s 50 --rounds 3 \
       --iterations 20 --warmup 3 --profile "$OUT/profile"
else
  step bench 250 "$PY" bench/bench_gpu_train.py --device cpu --batch 4 --iterations 1 --rounds 1 \
       --warmup 1 --variants fp32,bf16_channels_last --data-batches 2 --lmdb-records 20 \
       --out "$OUT/gpu_train.json"
fi

# -- 3. CUDA variants of the parity tests (skipped, not failed, without CUDA) --------------------
CUDA_TESTS=$(grep -rl --include='test_*.py' cuda tests | sort | tr '\n' ' ')   # every file with a CUDA variant
# shellcheck disable=SC2086
step pytest_cuda 150 "$PY" -m pytest -q -p no:cacheprovider -k cuda -rs $CUDA_TESTS \
     --junitxml "$OUT/pytest_cuda.xml"

# -- 4. two CPU processes with gloo (torchrun) ------------------------------------------------------
[ -z "${SKIP_GLOO:-}" ] && step pytest_gloo 60 "$PY" -m pytest -q -p no:cacheprovider -rs tests/parallel/test_data_parallel.py \
     -k "two_processes or killed" --junitxml "$OUT/pytest_gloo.xml"

say "total $(( $(date +%s) - START ))s"
[ -f "$OUT/gpu_train.json" ] && say "figures: $OUT/gpu_train.json (copy to bench/results/gpu_train.json)"
exit 0
