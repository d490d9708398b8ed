"""Where the native pool's helper threads run (``native/pool.h``): when a job is posted,
every helper is kept off the CPU its caller runs on, unless ``CTHULHU_PIN_THREADS=0``.
Checked in a child process (a fresh pool): the caller is moved to a chosen CPU, and
every thread's CPU set is read from ``/proc``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from cthulhu.devices.numpy_ import _native

CHILD = textwrap.dedent("""
    import json, os, threading
    import numpy as np
    from cthulhu.devices.numpy_ import _engine, threads

    a = np.ones((8, 32, 32, 16), np.float32)
    allowed = sorted(os.sched_getaffinity(0))
    main = threading.get_native_id()

    def helpers_sets():
        return [sorted(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")
                if int(t) != main]

    with threads.limit(len(allowed)):
        _engine.add([a, a], "relu")            # the pool starts, from an unpinned caller
        seen = {}
        for cpu in (allowed[0], allowed[-1]):
            os.sched_setaffinity(0, {cpu})      # the caller now runs on `cpu` only
            _engine.add([a, a], "relu")
            seen[cpu] = helpers_sets()
            os.sched_setaffinity(0, set(allowed))
    print(json.dumps({"allowed": allowed, "seen": seen}))
""")


def _child(env):
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


needs_cpus = pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="helper steering is Linux-only and needs two usable CPUs")


@needs_cpus
def test_helpers_are_kept_off_the_callers_cpu():
    if _native.library() is None:
        pytest.skip("native kernels unavailable (no C compiler)")
    got = _child({"CTHULHU_PIN_THREADS": "1"})
    allowed = got["allowed"]
    for cpu, sets in got["seen"].items():
        others = [c for c in allowed if c != int(cpu)]
        steered = [s for s in sets if s == others]
        assert steered, (cpu, sets)             # the pool's helpers
        # every other thread (BLAS's, Python's) keeps the whole set
        assert all(s in (others, allowed) for s in sets), (cpu, sets)


@needs_cpus
def test_pin_threads_0_leaves_placement_to_the_scheduler():
    if _native.library() is None:
        pytest.skip("native kernels unavailable (no C compiler)")
    got = _child({"CTHULHU_PIN_THREADS": "0"})
    for sets in got["seen"].values():
        assert all(s == got["allowed"] for s in sets)
