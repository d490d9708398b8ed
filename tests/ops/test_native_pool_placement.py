"""Where the native pool's helper threads run (``native/pool.h``): each helper keeps to
one CPU of those its creator may use, unless ``CTHULHU_PIN_THREADS=0``. Checked in a
child process (a fresh pool), by reading every thread's CPU set from ``/proc``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from cthulhu.devices.numpy_ import _native

CHILD = textwrap.dedent("""
    import json, os, threading, time
    import numpy as np
    from cthulhu.devices.numpy_ import _engine, threads

    a = np.ones((8, 32, 32, 16), np.float32)
    with threads.limit(len(os.sched_getaffinity(0))):
        _engine.add([a, a], "relu")
    time.sleep(0.3)               # a helper places itself when it starts
    main = threading.get_native_id()
    sets = [sorted(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")
            if int(t) != main]
    print(json.dumps({"main": sorted(os.sched_getaffinity(0)), "others": sets}))
""")


def _threads_cpus(env):
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


needs_cpus = pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="helper placement is Linux-only and needs two usable CPUs")


@needs_cpus
def test_each_helper_keeps_to_its_own_cpu():
    if _native.library() is None:
        pytest.skip("native kernels unavailable (no C compiler)")
    got = _threads_cpus({"CTHULHU_PIN_THREADS": "1"})
    allowed = got["main"]
    pinned = [s for s in got["others"] if len(s) == 1]
    # as many threads as usable CPUs: helper k on the (k+1)-th usable CPU, so the
    # helpers take distinct CPUs and leave the first one to the unpinned caller
    cpus = [s[0] for s in pinned]
    assert pinned and len(set(cpus)) == len(cpus)
    assert sorted(cpus) == allowed[1:1 + len(cpus)]


@needs_cpus
def test_pin_threads_0_leaves_placement_to_the_scheduler():
    if _native.library() is None:
        pytest.skip("native kernels unavailable (no C compiler)")
    got = _threads_cpus({"CTHULHU_PIN_THREADS": "0"})
    assert all(len(s) == len(got["main"]) for s in got["others"])
