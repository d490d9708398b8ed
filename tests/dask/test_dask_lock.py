"""The output lock across real processes: of several processes finding one stale lock
at the same moment, exactly one takes it over; the others are refused."""

import json
import subprocess
import sys
import textwrap
import time

from cthulhu.blockwise.lock import OutputLock, lock_path

CONTENDER = textwrap.dedent("""
    import os, sys, time, warnings
    from pathlib import Path
    from cthulhu.blockwise.lock import OutputInUseError, OutputLock

    target, folder = sys.argv[1], Path(sys.argv[2])
    judge = OutputLock._stale

    def slow_judge(self, raw):
        found = judge(self, raw)
        time.sleep(0.3)  # every contender finds the lock stale before any takes it over
        return found

    OutputLock._stale = slow_judge
    (folder / f"ready-{os.getpid()}").touch()
    while not (folder / "go").exists():
        time.sleep(0.001)
    lock = OutputLock(target)
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            lock.acquire()
    except OutputInUseError as exc:
        print("refused", exc, flush=True)
        sys.exit(0)
    print("won", len(seen), flush=True)
    while not (folder / "release").exists():  # held until every other contender is done
        time.sleep(0.005)
    lock.release()
""")


def test_one_of_many_processes_takes_over_a_stale_lock(tmp_path):
    target = tmp_path / "out.zarr"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"pid": dead.pid, "host": __import__("socket").gethostname(), "started": "then"}
    lock_path(target).write_text(json.dumps(stale))
    script = tmp_path / "contender.py"
    script.write_text(CONTENDER)
    n = 6
    procs = [subprocess.Popen([sys.executable, str(script), str(target), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < n:
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.01)
        (tmp_path / "go").touch()
        # Every loser exits by itself within moments; then the winner is let go.
        deadline = time.monotonic() + 30
        while sum(p.poll() is not None for p in procs) < n - 1:
            assert time.monotonic() < deadline, "more than one contender holds the lock"
            time.sleep(0.01)
        (tmp_path / "release").touch()
        outs = [p.communicate(timeout=60)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    won = [o for o in outs if o.startswith("won")]
    refused = [o for o in outs if o.startswith("refused")]
    assert len(won) == 1 and len(refused) == n - 1, outs
    assert all("in use by another cthulhu run" in o for o in refused)
    assert not lock_path(target).exists()
    assert [p.name for p in tmp_path.iterdir() if "cthulhu-lock" in p.name] == []


def test_release_leaves_a_lock_that_is_not_ours(tmp_path):
    target = tmp_path / "out.zarr"
    lock = OutputLock(target)
    lock.acquire()
    assert json.loads(lock_path(target).read_text())["host"]
    lock_path(target).write_text('{"pid": 1, "host": "elsewhere"}')  # someone broke in
    lock.release()
    assert lock_path(target).read_text() == '{"pid": 1, "host": "elsewhere"}'
