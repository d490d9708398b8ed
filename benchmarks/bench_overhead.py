"""How much of a small convolution call is Python, and how the native engine alone scales.

``python -m benchmarks.bench_overhead [--threads 1,2] [--runs 30]``

For the sub-millisecond convolutions of ``bench_conv`` (issue 11's table, :data:`SMALL`)
this times, on NumPy with the native kernels, at each thread count:

* ``op``: the public call (``ops.conv`` / ``ops.conv_transpose``): argument checks,
  geometry, registry, the NumPy plugin, the output buffer, the C call;
* ``ctypes``: the same op call with the engine called through ``ctypes`` (data
  pointers taken per call), as with a native library built without Python's headers;
  ``-`` where the library is that one already;
* ``native``: the same C function called directly through ctypes with the arguments
  the op passed it (captured once, on the same arrays): the engine alone.

``op - native`` is the Python each call adds (on calls of a millisecond or more it is
within the noise of the two minima, and may come out negative); it runs on the calling
thread while the helpers wait, so it bounds a call's parallel efficiency
``t(a)*a / (t(b)*b)`` however well the engine scales. Timings are in the steady state,
as a model calls its layers: each round, a run of back-to-back calls (``--calls``),
each timed; the best call counts (a minimum: the figures of a shared machine only
rise). Needs the native
kernels (a C compiler; without them it says so and measures nothing) and, for
``bench_conv``'s workloads, PyTorch (only imported there: nothing of it is timed).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import sys
import time

# bench_conv's sub-millisecond convolutions (its workload names): the calls whose
# parallel efficiency the Python around the engine weighs on.
SMALL = ("conv2d 3x3 s2 3->32 1x224x224", "conv1d causal k2 d4 64->64 8x1024",
         "conv1d k3 64->64 8x1024", "conv2d_transpose 3x3 s2 64->32 8x28x28",
         "conv3d_transpose 3x3x3 s2 16->8 1x32^3")


def cases():
    """``[(name, op call)]``: :data:`SMALL` taken from ``bench_conv.cases()`` (the same
    data, made once)."""
    from benchmarks.bench_conv import cases as conv_cases

    ours = {name: call for name, _, call, _ in conv_cases()}
    missing = [name for name in SMALL if name not in ours]
    if missing:
        raise RuntimeError(f"bench_conv has no workload named {missing}")
    return [(name, ours[name]) for name in SMALL]


def native_call(op_call):
    """``f(threads)``: the C call ``op_call`` makes, replayed on the same arrays.

    The op's arguments are captured at the one place the NumPy plugin calls the engine
    (``_engine._call``); a call that does not reach it raises ``RuntimeError``.
    """
    from cthulhu.devices.numpy_ import _engine

    seen = []
    real = _engine._call

    def spy(lib, name, ctype, x, weights, epilogue, activation, y, geom):
        seen.append((lib.func(name, ctype.itemsize), x, weights, epilogue, activation, y, geom))
        return real(lib, name, ctype, x, weights, epilogue, activation, y, geom)

    _engine._call = spy
    try:
        keep = op_call()            # the result: its buffer stays the replay's output
    finally:
        _engine._call = real
    if len(seen) != 1:
        raise RuntimeError(f"expected one engine call, saw {len(seen)}")
    func, x, weights, (bias, scale, shift), activation, y, geom = seen[0]

    def ptr(a):
        return None if a is None else a.ctypes.data

    args = (x.ctypes.data, *[w.ctypes.data for w in weights], ptr(bias), ptr(scale),
            ptr(shift), _engine.ACTIVATIONS[activation], y.ctypes.data, geom.ctypes.data)
    held = (keep, x, weights, bias, scale, shift, y, geom)   # alive as long as the replay

    def replay(threads):
        if func(*args, threads) != 0:
            raise RuntimeError("the engine declined its own arguments")
        return held

    return replay


@contextlib.contextmanager
def engine_calls(direct):
    """The op's engine calls through the extension's ``engine`` (``direct``, where the
    library has it) or through ``ctypes``, for the block."""
    from cthulhu.devices.numpy_ import _native

    lib = _native.library()
    saved = lib.engine
    lib.__dict__["engine"] = saved if direct else None
    try:
        yield
    finally:
        lib.__dict__["engine"] = saved


def best_call(func, runs, calls):
    """Best seconds of one call: ``runs`` rounds of ``calls`` back-to-back calls, each
    timed, each round's first (cold) call not counted."""
    best = math.inf
    for _ in range(runs):
        time.sleep(0.01)
        func()
        for _ in range(calls):
            t0 = time.perf_counter()
            func()
            best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_overhead",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2",
                        help="comma-separated thread counts (the first two give the efficiency)")
    parser.add_argument("--runs", type=int, default=30, help="rounds per timing")
    parser.add_argument("--calls", type=int, default=20, help="timed calls per round")
    args = parser.parse_args([] if argv is None else argv)
    counts = sorted({int(t) for t in args.threads.split(",") if t.strip()})

    from cthulhu.devices.numpy_ import _native, threads

    if _native.library() is None:
        print(f"# skipped: no native kernels to measure ({_native.describe()})")
        return 0
    print(f"# command: python -m benchmarks.bench_overhead {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"# {os.cpu_count()} CPUs; native: {_native.describe()}")
    print(f"# best call of {args.runs} rounds x {args.calls} back-to-back calls; microseconds")
    direct = _native.library().engine is not None
    head = f"{'workload':40s}" + "".join(f" | {n:>2d} thr: op  ctypes  native op-native"
                                         for n in counts)
    if len(counts) >= 2:
        head += f" | efficiency {counts[0]}->{counts[1]}: op ctypes native"
    print(head)
    kinds = ("op", "ctypes", "native") if direct else ("op", "native")
    for name, op_call in cases():
        replay = native_call(op_call)
        times = {}
        for _ in range(2):          # the kinds interleaved, twice: load hits them alike
            for n in counts:
                with threads.limit(n):
                    for kind in kinds:
                        func = functools.partial(replay, n) if kind == "native" else op_call
                        with engine_calls(kind != "ctypes"):
                            best = best_call(func, args.runs // 2 or 1, args.calls)
                        times[kind, n] = min(times.get((kind, n), math.inf), best)
        row = f"{name:40s}"
        for n in counts:
            op, native = times["op", n] * 1e6, times["native", n] * 1e6
            via = f"{times['ctypes', n] * 1e6:7.1f}" if direct else f"{'-':>7s}"
            row += f" | {op:13.1f} {via} {native:7.1f} {op - native:9.1f}"
        if len(counts) >= 2:
            a, b = counts[0], counts[1]
            row += "".join(f" {times[k, a] * a / (times[k, b] * b):6.0%}" if (k, a) in times
                           else f" {'-':>6s}" for k in ("op", "ctypes", "native"))
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
