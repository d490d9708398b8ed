#!/usr/bin/env bash
# Issue 11's many-core figures, in one run on a machine with many cores (the GPU machine
# lent to a session has 16): run from the repository root.
#
#   OUT=/some/folder bash benchmarks/cpu_check.sh
#
# Steps (each under its own timeout; ~5 min at most with the defaults):
#   1. environment: CPUs, NumPy, torch (bench_conv's peer), the native kernels (built
#      here at first use when no install-time build matches);
#   2. bench_conv at 1, 2, 4, 8 and all the CPUs (up to 16) threads: the ratios to torch,
#      the geomean, the parallel efficiencies and conv2d 64->64 against torch.mm's GEMM;
#   3. bench_overhead at 1 and all the CPUs: the Python share of the small convolutions.
# CPU_CHECK_RUNS (default 10) sets the rounds of both benchmarks. Writes $OUT/report.txt
# (every step's output) and $OUT/<step>.log.
OUT=${OUT:-/tmp/cthulhu-cpu-check}
. "$(dirname "$0")/check_steps.sh"
RUNS=${CPU_CHECK_RUNS:-10}

step_all() {  # step, then its whole output into the report
    step "$@"
    local rc=$?
    cat "$OUT/$1.log" >> "$REPORT"
    return $rc
}

CPUS=$("$PY" -c "import os; print(len(os.sched_getaffinity(0)))")
TOP=$(( CPUS < 16 ? CPUS : 16 ))
COUNTS=$("$PY" -c "print(','.join(str(n) for n in sorted({1, 2, 4, 8, $TOP}) if n <= $TOP))")
note "== cthulhu cpu_check $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(date -u +%FT%TZ)"
note "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null); $CPUS CPUs usable; threads $COUNTS"

step_all env 120 "$PY" - <<'PYEOF'
import importlib
for mod in ("numpy", "torch", "threadpoolctl"):
    try:
        m = importlib.import_module(mod)
        print(f"{mod} {getattr(m, '__version__', '?')}")
    except Exception as exc:
        print(f"{mod} MISSING ({type(exc).__name__}: {exc})")
from cthulhu.devices.numpy_ import _native
print("native kernels:", _native.describe())
PYEOF

step_all bench_conv 240 "$PY" -m benchmarks.bench_conv --threads "$COUNTS" --runs "$RUNS" \
    --steady-runs "$(( RUNS / 2 > 0 ? RUNS / 2 : 1 ))"
step_all bench_overhead 90 "$PY" -m benchmarks.bench_overhead --threads "1,$TOP" --runs "$RUNS"
note "== total $(( $(date +%s) - T0 )) s"
