#!/usr/bin/env bash
# For a lent many-core machine (the `device` tool; it runs in a copy of the working tree):
# CPU flags, a parallel build, the whole test suite on the best ISA that machine has (the
# ISA-parametrised tests cover every path it supports, AVX-512 included where this machine has
# none), then GEMM thread scaling. Logs land in $OUT. Usage: bash bench/device_check.sh [TEST_SECONDS]
set -u
OUT=${OUT:-/tmp/device_out}; mkdir -p "$OUT"
PY=${PY:-python3}
TEST_S=${1:-220}
{ echo "nproc $(nproc)"; lscpu | grep -E 'Model name|Socket|Thread|Core|NUMA node\(s\)|L2|L3'
  grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E 'avx|amx|fma|vnni|bf16' | tr '\n' ' '; echo
} 2>&1 | tee "$OUT/cpu.txt"
t0=$SECONDS
FASTNN_JOBS=$(nproc) $PY setup.py -q build_ext --inplace > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
echo "build: $((SECONDS - t0)) s"
$PY -c 'import fastnn._C as C; b = C.build_info(); print({k: b[k] for k in ("isa_compiled", "isa_supported", "isa_best")}, "active", C.active_isa())'
t0=$SECONDS
timeout "$TEST_S" $PY -m pytest -q -p no:cacheprovider -n "$(( $(nproc) - 2 ))" --continue-on-collection-errors \
  tests > "$OUT/tests.log" 2>&1
echo "tests rc=$? in $((SECONDS - t0)) s"
grep -E '^(FAILED|ERROR)' "$OUT/tests.log" | head -60
tail -3 "$OUT/tests.log"
t0=$SECONDS
timeout 120 $PY bench/compare.py gemm --threads 1,2,4,8,16 --quick > "$OUT/gemm.txt" 2>&1
echo "gemm scaling rc=$? in $((SECONDS - t0)) s"; cat "$OUT/gemm.txt" | tail -40
