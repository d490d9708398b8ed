# What gpu_check.sh and cpu_check.sh share (sourced, after they set OUT's default):
# the report file, the environment, and `note` / `step`.
set -u
mkdir -p "$OUT"
REPORT="$OUT/report.txt"
: > "$REPORT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
PY=${PYTHON:-python3}
T0=$(date +%s)

note() { echo "$*" | tee -a "$REPORT"; }

step() {  # step NAME SECONDS COMMAND...: run with a timeout, log to $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    local start rc
    start=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    note "[$name] exit $rc after $(( $(date +%s) - start )) s$([ $rc = 124 ] && echo ' (TIMED OUT)')"
    return $rc
}
