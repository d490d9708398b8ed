"""Convolution ops on the NumPy plugin against PyTorch CPU, measured in the same run.

``python -m benchmarks.bench_conv`` (or ``main()``) prints, per case, the best
time of ``cthulhu.ops`` on NumPy (channels_last) and of the matching
``torch.nn.functional`` call (torch's native NCHW layout), run alternately, with
the same number of threads, and the speed ratio ``torch_ms / cthulhu_ms``
(>= 0.5 is the target: at least half of PyTorch's speed). A last row gives the
op-level overhead of ``ops.matmul`` (batch 1, 512 -> 128, bias) above a raw
``x @ w``.

Environment: ``CTHULHU_BENCH_THREADS`` (default: all CPUs; sets
``torch.set_num_threads`` and ``CTHULHU_NUM_THREADS``), ``CTHULHU_BENCH_RUNS``
(default 11), ``CTHULHU_BENCH_CLOCK=cpu`` (CPU time instead of wall time: steadier
on a shared machine, meaningful with one thread), ``CTHULHU_BENCH_ORDER=blocks``
(all of our runs of a case, then all of torch's, instead of alternating: with
several threads torch's OpenMP workers keep spinning after each call and take
cores from the next timing). For single-thread figures also set
``OPENBLAS_NUM_THREADS=1``. ``CTHULHU_NATIVE=0`` times the NumPy paths without the
native C kernels (the header says which ran).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np


def _threads() -> int:
    return int(os.environ.get("CTHULHU_BENCH_THREADS", os.cpu_count() or 1))


def _clock():
    """``time.perf_counter`` (wall), or CPU time with ``CTHULHU_BENCH_CLOCK=cpu``.

    CPU time ignores time spent waiting for a core on a shared machine; use it
    with one thread (with more it adds up the threads, spin-waits included).
    """
    if os.environ.get("CTHULHU_BENCH_CLOCK") == "cpu":
        return time.process_time
    return time.perf_counter


def _compare(ours, theirs, runs):
    """Interleaved runs of both: (our best, their best, median of the paired ratios).

    The ratio of the best times is the figure to judge by (load from elsewhere
    only ever adds time). The median of the per-run paired ratios is printed
    beside it: on a busy machine it drifts in our favour, because torch's
    OpenMP threads wait for each other while our chunks do not.
    """
    clock = _clock()
    ours()
    theirs()
    a, b = [], []
    if os.environ.get("CTHULHU_BENCH_ORDER") == "blocks":
        # all our runs, then all theirs: neither library's idle threads (torch's
        # OpenMP workers spin for a while after each call) run during the other's
        # timings. Use it for thread counts above 1.
        for func, times in ((ours, a), (theirs, b)):
            for _ in range(runs):
                t0 = clock()
                func()
                times.append(clock() - t0)
        return min(a), min(b), statistics.median(tb / ta for ta, tb in zip(a, b, strict=True))
    for _ in range(runs):
        t0 = clock()
        ours()
        t1 = clock()
        theirs()
        t2 = clock()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return min(a), min(b), statistics.median(tb / ta for ta, tb in zip(a, b, strict=True))


def _cases():
    """(name, cthulhu thunk, torch thunk) for each benchmark case, data made once."""
    import torch
    import torch.nn.functional as F

    from cthulhu import ops

    rng = np.random.default_rng(0)

    def arr(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    def nchw(x):
        return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))

    def oihw(k):                       # Keras (*k, in, out) -> torch (out, in, *k)
        rank = k.ndim - 2
        return torch.from_numpy(np.ascontiguousarray(np.transpose(k, (rank + 1, rank,
                                                                      *range(rank)))))

    cases = []
    # conv 2D 3x3 64->64 on 8x56x56x64, 'same'
    x, k, b = arr(8, 56, 56, 64), arr(3, 3, 64, 64), arr(64)
    tx, tk, tb = nchw(x), oihw(k), torch.from_numpy(b)
    cases.append(("conv2d 3x3 64->64 8x56x56",
                  lambda: ops.conv(x, k, padding="same", bias=b),
                  lambda: F.conv2d(tx, tk, tb, padding=1)))
    # conv 2D strided 3x3 64->128 s2
    k2 = arr(3, 3, 64, 128)
    tk2 = oihw(k2)
    cases.append(("conv2d 3x3 s2 64->128 8x56x56",
                  lambda: ops.conv(x, k2, strides=2, padding="same"),
                  lambda: F.conv2d(F.pad(tx, (0, 1, 0, 1)), tk2, stride=2)))
    # conv 3D 3x3x3 16->16 on 1x64^3x16
    x3, k3 = arr(1, 64, 64, 64, 16), arr(3, 3, 3, 16, 16)
    tx3, tk3 = nchw(x3), oihw(k3)
    cases.append(("conv3d 3x3x3 16->16 1x64^3",
                  lambda: ops.conv(x3, k3, padding="same"),
                  lambda: F.conv3d(tx3, tk3, padding=1)))
    # thin 3D inputs (the native direct convolution): 8->8 and 1->1 on 1x64^3
    for c in (8, 1):
        xc, kc = arr(1, 64, 64, 64, c), arr(3, 3, 3, c, c)
        txc, tkc = nchw(xc), oihw(kc)
        cases.append((f"conv3d 3x3x3 {c}->{c} 1x64^3",
                       lambda xc=xc, kc=kc: ops.conv(xc, kc, padding="same"),
                       lambda txc=txc, tkc=tkc: F.conv3d(txc, tkc, padding=1)))
    # conv 1D k=3 64->64 on 8x1024x64
    x1, k1 = arr(8, 1024, 64), arr(3, 64, 64)
    tx1, tk1 = nchw(x1), oihw(k1)
    cases.append(("conv1d k3 64->64 8x1024",
                  lambda: ops.conv(x1, k1, padding="same"),
                  lambda: F.conv1d(tx1, tk1, padding=1)))
    # transposed 2D 3x3 s2 64->64: 8x28x28 -> 8x56x56
    xt, kt = arr(8, 28, 28, 64), arr(3, 3, 64, 64)          # (*k, F, C)
    txt = nchw(xt)
    tkt = torch.from_numpy(np.ascontiguousarray(np.transpose(kt, (3, 2, 0, 1))))  # (C, F, *k)
    cases.append(("conv2d_transpose 3x3 s2 64->64 8x28x28",
                  lambda: ops.conv_transpose(xt, kt, strides=2, padding="same"),
                  lambda: F.conv_transpose2d(txt, tkt, stride=2, padding=1, output_padding=1)))
    # transposed 3D 3x3x3 s2 16->16: 1x32^3 -> 1x64^3
    xt3, kt3 = arr(1, 32, 32, 32, 16), arr(3, 3, 3, 16, 16)
    txt3 = nchw(xt3)
    tkt3 = torch.from_numpy(np.ascontiguousarray(np.transpose(kt3, (4, 3, 0, 1, 2))))
    cases.append(("conv3d_transpose 3x3x3 s2 16->16 1x32^3",
                  lambda: ops.conv_transpose(xt3, kt3, strides=2, padding="same"),
                  lambda: F.conv_transpose3d(txt3, tkt3, stride=2, padding=1,
                                             output_padding=1)))
    # depthwise 3x3 on 8x56x56x64, multiplier 1
    kd = arr(3, 3, 64, 1)
    tkd = torch.from_numpy(np.ascontiguousarray(np.transpose(kd.reshape(3, 3, 64), (2, 0, 1))
                                                [:, None]))
    cases.append(("depthwise2d 3x3 64 8x56x56",
                  lambda: ops.depthwise_conv(x, kd, padding="same"),
                  lambda: F.conv2d(tx, tkd, padding=1, groups=64)))
    # separable 3x3 64 -> 64 on 8x56x56x64
    kp = arr(1, 1, 64, 64)
    tkp = oihw(kp)
    cases.append(("separable2d 3x3 64->64 8x56x56",
                  lambda: ops.separable_conv(x, kd, kp, padding="same"),
                  lambda: F.conv2d(F.conv2d(tx, tkd, padding=1, groups=64), tkp)))
    # up-sampling x2 on 8x56x56x64: nearest and bilinear (torch's align_corners=False is
    # the same half-pixel sampling as TF2's resize)
    cases.append(("upsample2d nearest x2 8x56x56x64",
                  lambda: ops.upsample(x, (2, 2)),
                  lambda: F.interpolate(tx, scale_factor=2, mode="nearest")))
    cases.append(("upsample2d bilinear x2 8x56x56x64",
                  lambda: ops.upsample(x, (2, 2), interpolation="bilinear"),
                  lambda: F.interpolate(tx, scale_factor=2, mode="bilinear",
                                        align_corners=False)))
    return cases


def _matmul_overhead(rounds=9, n=2000):
    """Per-call seconds of raw ``x @ w``, ``x @ w + b`` and ``ops.matmul(x, w, bias=b)``.

    Batch 1, 512 -> 128 (a ``Daoloth(128)`` call's op); loops of ``n`` calls,
    the three interleaved, best of ``rounds``.
    """
    from cthulhu import ops

    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 512), dtype=np.float32)
    w = rng.standard_normal((512, 128), dtype=np.float32)
    b = rng.standard_normal(128, dtype=np.float32)
    funcs = {"raw": lambda: x @ w, "raw_bias": lambda: x @ w + b,
             "op": lambda: ops.matmul(x, w, bias=b)}
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(rounds):
        for name, func in funcs.items():
            t0 = time.perf_counter()
            for _ in range(n):
                func()
            best[name] = min(best[name], (time.perf_counter() - t0) / n)
    return best["raw"], best["raw_bias"], best["op"]


def _steady_allocator():
    """Put glibc's allocator in its steady state before timing anything.

    glibc serves big blocks with ``mmap`` (fresh, page-faulting memory on every
    call) until a freed ``mmap`` block raises its threshold; from then on they
    are reused from the heap. Which state a case meets would otherwise depend on
    what the cases before it freed, and one library's results would decide the
    other's page-fault bill (we saw torch's depthwise take 2 or 11 ms that way).
    Freeing one block just under the threshold's 32 MiB ceiling puts both in the
    steady state at once.
    """
    block = np.ones((31 << 20) // 8)
    del block


def main(argv=None) -> int:
    import torch

    _steady_allocator()
    threads = _threads()
    torch.set_num_threads(threads)
    os.environ.setdefault("CTHULHU_NUM_THREADS", str(threads))
    runs = int(os.environ.get("CTHULHU_BENCH_RUNS", "11"))
    clock = "CPU" if os.environ.get("CTHULHU_BENCH_CLOCK") == "cpu" else "wall"
    order = "blocked" if os.environ.get("CTHULHU_BENCH_ORDER") == "blocks" else "interleaved"
    from cthulhu.devices.numpy_ import _native

    print(f"# native kernels: {_native.describe()}")
    print(f"# cthulhu ops (NumPy {np.__version__}) vs torch {torch.__version__} CPU, "
          f"{threads} threads; best of {runs} {order} runs, {clock} ms; "
          "ratio = torch_ms / cthulhu_ms of the best times (target >= 0.5); "
          "paired = median of per-run ratios")
    print(f"{'case':42s} {'cthulhu ms':>11s} {'torch ms':>9s} {'ratio':>6s} {'paired':>7s}")
    worst = None
    for name, ours, theirs in _cases():
        with torch.inference_mode():
            t_ours, t_theirs, paired = _compare(ours, theirs, runs)
        ratio = t_theirs / t_ours
        worst = ratio if worst is None else min(worst, ratio)
        print(f"{name:42s} {t_ours * 1e3:11.2f} {t_theirs * 1e3:9.2f} {ratio:6.2f} {paired:7.2f}")
    raw, raw_bias, op = _matmul_overhead()
    print(f"{'matmul 1x512 @ 512x128 + bias':42s} {op * 1e6:9.1f}us "
          f"(raw x@w {raw * 1e6:.1f}us, x@w+b {raw_bias * 1e6:.1f}us, "
          f"overhead {(op - raw) * 1e6:.1f}us)")
    print(f"# worst conv ratio {worst:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
