#!/usr/bin/env bash
# The one GPU session of issue 14: run from the repository root on the GPU machine.
#
#   OUT=/some/folder bash benchmarks/gpu_check.sh
#
# Steps (each under its own timeout, so one hang cannot eat the budget; ~6 min at most):
#   1. environment: GPU, CuPy, torch, whether array-api-compat / dask / zarr import;
#   2. precompile: every kernel through NVRTC in parallel processes (CuPy's disk cache);
#   3. gpu tests: CTHULHU_REQUIRE_GPU=1 pytest -m gpu (every path, precision bounds);
#   4. bench: convolutions vs cuDNN (strict / tf32 / bf16), memory-bound table, models;
#   5. tiles + fresh-process start-up (what is left of the budget: GPU_CHECK_BUDGET seconds
#      from the start, default 345).
# Writes $OUT/report.txt (compact) and $OUT/<step>.log (full output).
OUT=${OUT:-/tmp/cthulhu-gpu-check}
. "$(dirname "$0")/check_steps.sh"

note "== cthulhu gpu_check $(git rev-parse --short HEAD 2>/dev/null || echo '?') $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -4 | tee -a "$REPORT"
step env 60 "$PY" - <<'PYEOF'
import importlib
for mod in ("numpy", "cupy", "torch", "array_api_compat", "hypothesis", "dask", "zarr"):
    try:
        m = importlib.import_module(mod)
        print(f"{mod} {getattr(m, '__version__', '?')}")
    except Exception as exc:
        print(f"{mod} MISSING ({type(exc).__name__}: {exc})")
import cthulhu
from cthulhu.devices.cupy_ import CupyPlugin
print("cthulhu", cthulhu.__file__, CupyPlugin().available())
PYEOF
cat "$OUT/env.log" >> "$REPORT"
if grep -q "array_api_compat MISSING" "$OUT/env.log"; then
    note "array-api-compat is missing: cthulhu cannot import its ops; nothing else will run"
fi

step precompile 100 "$PY" -m benchmarks.gpu_precompile
tail -n 20 "$OUT/precompile.log" >> "$REPORT"

step gpu_tests 150 env CTHULHU_REQUIRE_GPU=1 "$PY" -m pytest -q -m gpu -p no:cacheprovider \
    -o addopts="" -rfE --continue-on-collection-errors tests
grep -E "passed|failed|error|FAILED|ERROR" "$OUT/gpu_tests.log" | tail -n 40 >> "$REPORT"

step bench 120 "$PY" -m benchmarks.bench_cupy conv memory models
cat "$OUT/bench.log" >> "$REPORT"

LEFT=$(( ${GPU_CHECK_BUDGET:-345} - ($(date +%s) - T0) ))
if [ "$LEFT" -gt 40 ]; then
    step bench_extra "$LEFT" "$PY" -m benchmarks.bench_cupy tiles start
    cat "$OUT/bench_extra.log" >> "$REPORT"
else
    note "[bench_extra] skipped: ${LEFT} s left of the budget"
fi
note "== total $(( $(date +%s) - T0 )) s"
