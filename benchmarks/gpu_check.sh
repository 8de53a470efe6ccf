#!/usr/bin/env bash
# One prepared run of the cuda backend on a lent GPU machine (e.g. one H200).
#
# That machine has no internet but has numba, numba-cuda, PyTorch and CuPy; it
# runs this script in a copy of the repository (fastrnn need not be installed).
#
#   OUT=/path/to/results bash benchmarks/gpu_check.sh
#
# Steps, each under its own `timeout` (at most 7.5 minutes in all):
#   env         nvidia-smi, versions, `fastrnn info`                       (30 s)
#   tests       tests/test_cuda.py (the simulator tests, now on the GPU),
#               tests/test_cuda_gpu.py (realistic sizes, persistent kernels,
#               CuPy/PyTorch inputs), tests/test_ptx.py -- junit XML too  (150 s)
#   bench       fastrnn bench --device cuda: fastrnn's cuda backend (one
#               launch per step) vs PyTorch/cuDNN and the GEMM ceiling    (170 s)
#   persistent  the same for fastrnn alone with FASTRNN_CUDA_PERSISTENT=1
#               (one cooperative launch per pass)                          (90 s)
# Everything lands in $OUT: <step>.log, tests.xml, bench_*.json and
# summary.txt (each step's exit status and seconds, the test totals, the tables).
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# a fresh Numba cache shared by the steps: the tests compile, the bench reuses
export NUMBA_CACHE_DIR="$(mktemp -d)"
unset NUMBA_ENABLE_CUDASIM OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
PY=python3
if [ -x .venv/bin/python ] && .venv/bin/python -c "import numba.cuda" 2>/dev/null; then
    PY=.venv/bin/python
fi
SUMMARY="$OUT/summary.txt"
echo "gpu_check $(date -u '+%Y-%m-%d %H:%M UTC')  commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')  python $PY" > "$SUMMARY"

# step NAME SECONDS COMMAND...: run with a time limit, output to $OUT/NAME.log
step() {
    local name=$1 limit=$2 start rc
    shift 2
    start=$(date +%s)
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    echo "$name: exit $rc$([ $rc = 124 ] && echo ' (timed out)') in $(( $(date +%s) - start )) s" >> "$SUMMARY"
    return $rc
}

environment() {
    nvidia-smi || true
    "$PY" - <<'EOF'
import importlib
for name in ("numpy", "scipy", "numba", "numba_cuda", "torch", "cupy", "pytest"):
    try:
        print(f"{name:<11}", importlib.import_module(name).__version__)
    except Exception as e:
        print(f"{name:<11} missing ({type(e).__name__})")
from numba import cuda
print("GPU:", cuda.get_current_device().name, "cc", cuda.get_current_device().compute_capability)
EOF
    "$PY" -m fastrnn.cli info || true
}
export -f environment
export PY
step env 30 bash -c environment

# -o addopts= drops pyproject's --benchmark-disable (pytest-benchmark may be absent there)
step tests 150 "$PY" -m pytest -o addopts= -ra -p no:cacheprovider --junitxml="$OUT/tests.xml" \
    tests/test_cuda.py tests/test_cuda_gpu.py tests/test_ptx.py
tail -n 1 "$OUT/tests.log" | sed 's/^/  tests: /' >> "$SUMMARY"

# bench NAME SECONDS [OPTIONS...]: a timed `fastrnn bench --device cuda`, its table into the summary
bench() {
    local name=$1 limit=$2
    shift 2
    step "$name" "$limit" "$PY" -m fastrnn.cli bench --device cuda --time-cap 5 --markdown \
        --json "$OUT/$name.json" "$@"
    echo "$name:" >> "$SUMMARY"
    grep -E '^\|' "$OUT/$name.log" >> "$SUMMARY" || tail -n 30 "$OUT/$name.log" >> "$SUMMARY"
}
if "$PY" -m fastrnn.cli bench --help 2>/dev/null | grep -q -- "--device"; then
    bench bench_cuda 170
    FASTRNN_CUDA_PERSISTENT=1 bench bench_persistent 90 --peers cuda
else
    echo "bench: skipped, this fastrnn bench has no --device option" >> "$SUMMARY"
fi
rm -rf "$NUMBA_CACHE_DIR"
cat "$SUMMARY"
