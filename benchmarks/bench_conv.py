"""cthulhu's NumPy device against PyTorch CPU, the same workloads in the same run.

``python -m benchmarks.bench_conv [--threads 1,2,4,8,16] [--runs 15] [--steady-runs 10]
[--only conv2d,...]``

For every thread count (in one run), every workload of issue 11's table is timed for
cthulhu (``cthulhu.ops`` / layers on NumPy, channels_last) and for the matching
``torch.nn.functional`` call (torch's native NCHW layout), with the same number of
threads: cthulhu's through :func:`cthulhu.devices.numpy_.threads.limit` (and BLAS's
through threadpoolctl), torch's through ``torch.set_num_threads``. Each is the best
(minimum) of ``--runs`` rounds; a round times each library's calls in a row (as many
as last ~2 ms, one for most workloads) after a 10 ms pause (so neither library's spinning idle threads run during the other's
timing), and the rounds alternate between the libraries, so load from elsewhere hits
both alike. On a shared machine only the minimum means anything.

Printed: per workload and thread count the two times and ``ratio = cthulhu / torch``
(lower is better; issue 11's target is <= 1.2 at two threads, geomean <= 1.0); per
library the parallel efficiency from the first to the second thread count,
``t(a) * a / (t(b) * b)``; and the conv2d 64->64 throughput against a large float32
GEMM (``torch.mm``) at the same thread count. The first line is the command that
produced the table. ``CTHULHU_NATIVE=0`` times the NumPy paths without native code.

Then the same in the steady state (``--steady-runs`` rounds, 0: skipped): each round is a
run of back-to-back calls lasting about ``STEADY_S`` after the pause, as the layers of a
model are called; every call is timed and the best counts, each run's first excepted.
The first table times most sub-millisecond workloads cold, one call after the pause:
on a VM such a call pays a start-up cost (caches and address translations refilled, the
helper thread woken) that does not shrink with more threads; see docs/devices.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import sys
import time

import numpy as np


def _arr(rng, *shape):
    return rng.standard_normal(shape, dtype=np.float32)


def _nchw(torch, x):
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))


def _oihw(torch, k):
    """Keras (*k, in, out) -> torch (out, in, *k)."""
    rank = k.ndim - 2
    return torch.from_numpy(np.ascontiguousarray(np.transpose(k, (rank + 1, rank,
                                                                  *range(rank)))))


def _iohw(torch, k):
    """Keras transposed (*k, out, in) -> torch conv_transpose (in, out, *k)."""
    rank = k.ndim - 2
    return torch.from_numpy(np.ascontiguousarray(np.transpose(k, (rank + 1, rank,
                                                                  *range(rank)))))


# Rows beyond issue 11's table, left out of the geometric mean (comparable over time):
# the first layer as a model calls it, through the layer and its op's plan.
BEYOND_THE_TABLE = ("Cthalpa2D 3->32 s2 relu layer call",)


def cases():
    """``[(name, multiply-adds or None, cthulhu thunk, torch thunk)]``, data made once."""
    import torch
    import torch.nn.functional as F

    from cthulhu import ops
    from cthulhu.layers import Cthalpa2D, Daoloth

    rng = np.random.default_rng(0)
    out = []

    def add(name, macs, ours, theirs):
        out.append((name, macs, ours, theirs))

    x1, k1, b1 = _arr(rng, 8, 1024, 64), _arr(rng, 3, 64, 64), _arr(rng, 64)
    tx1, tk1, tb1 = _nchw(torch, x1), _oihw(torch, k1), torch.from_numpy(b1)
    add("conv1d k3 64->64 8x1024", 8 * 1024 * 3 * 64 * 64,
        lambda: ops.conv(x1, k1, padding="same", bias=b1),
        lambda: F.conv1d(tx1, tk1, tb1, padding=1))
    kc = _arr(rng, 2, 64, 64)
    tkc = _oihw(torch, kc)
    add("conv1d causal k2 d4 64->64 8x1024", 8 * 1024 * 2 * 64 * 64,
        lambda: ops.conv(x1, kc, padding="causal", dilation=4),
        lambda: F.conv1d(F.pad(tx1, (4, 0)), tkc, dilation=4))
    x2, k2, b2 = _arr(rng, 8, 56, 56, 64), _arr(rng, 3, 3, 64, 64), _arr(rng, 64)
    tx2, tk2, tb2 = _nchw(torch, x2), _oihw(torch, k2), torch.from_numpy(b2)
    add("conv2d 3x3 64->64 8x56x56", 8 * 56 * 56 * 9 * 64 * 64,
        lambda: ops.conv(x2, k2, padding="same", bias=b2, activation="relu"),
        lambda: F.relu(F.conv2d(tx2, tk2, tb2, padding=1)))
    xf, kf = _arr(rng, 1, 224, 224, 3), _arr(rng, 3, 3, 3, 32)
    txf, tkf = _nchw(torch, xf), _oihw(torch, kf)
    add("conv2d 3x3 s2 3->32 1x224x224", 112 * 112 * 9 * 3 * 32,
        lambda: ops.conv(xf, kf, strides=2, padding="same"),
        lambda: F.conv2d(F.pad(txf, (0, 1, 0, 1)), tkf, stride=2))
    first = Cthalpa2D(32, 3, strides=2, padding="same", activation="relu")
    first(xf)
    kfl, bfl = first.get_weights()
    module = torch.nn.Conv2d(3, 32, 3, stride=2)
    with torch.no_grad():
        module.weight.copy_(_oihw(torch, kfl))
        module.bias.copy_(torch.from_numpy(bfl))
    add("Cthalpa2D 3->32 s2 relu layer call", 112 * 112 * 9 * 3 * 32,
        lambda: first(xf), lambda: F.relu(module(F.pad(txf, (0, 1, 0, 1)))))
    kd = _arr(rng, 3, 3, 64, 1)
    tkd = torch.from_numpy(np.ascontiguousarray(np.transpose(kd[..., 0], (2, 0, 1))[:, None]))
    add("depthwise 3x3 64ch 8x56x56", 8 * 56 * 56 * 9 * 64,
        lambda: ops.depthwise_conv(x2, kd, padding="same"),
        lambda: F.conv2d(tx2, tkd, padding=1, groups=64))
    kp = _arr(rng, 1, 1, 64, 128)
    tkp = _oihw(torch, kp)
    add("separable 3x3 64->128 8x56x56", 8 * 56 * 56 * (9 * 64 + 64 * 128),
        lambda: ops.separable_conv(x2, kd, kp, padding="same"),
        lambda: F.conv2d(F.conv2d(tx2, tkd, padding=1, groups=64), tkp))
    xt, kt = _arr(rng, 8, 28, 28, 64), _arr(rng, 3, 3, 32, 64)
    txt, tkt = _nchw(torch, xt), _iohw(torch, kt)
    add("conv2d_transpose 3x3 s2 64->32 8x28x28", 8 * 28 * 28 * 9 * 64 * 32,
        lambda: ops.conv_transpose(xt, kt, strides=2, padding="same"),
        lambda: F.conv_transpose2d(txt, tkt, stride=2, padding=1, output_padding=1))
    x3, k3 = _arr(rng, 1, 64, 64, 64, 16), _arr(rng, 3, 3, 3, 16, 16)
    tx3, tk3 = _nchw(torch, x3), _oihw(torch, k3)
    add("conv3d 3x3x3 16->16 1x64^3", 64 ** 3 * 27 * 16 * 16,
        lambda: ops.conv(x3, k3, padding="same"),
        lambda: F.conv3d(tx3, tk3, padding=1))
    xo, ko = _arr(rng, 1, 128, 128, 128, 1), _arr(rng, 3, 3, 3, 1, 8)
    txo, tko = _nchw(torch, xo), _oihw(torch, ko)
    add("conv3d 3x3x3 1->8 1x128^3", 128 ** 3 * 27 * 8,
        lambda: ops.conv(xo, ko, padding="same"),
        lambda: F.conv3d(txo, tko, padding=1))
    xt3, kt3 = _arr(rng, 1, 32, 32, 32, 16), _arr(rng, 3, 3, 3, 8, 16)
    txt3, tkt3 = _nchw(torch, xt3), _iohw(torch, kt3)
    add("conv3d_transpose 3x3x3 s2 16->8 1x32^3", 32 ** 3 * 27 * 16 * 8,
        lambda: ops.conv_transpose(xt3, kt3, strides=2, padding="same"),
        lambda: F.conv_transpose3d(txt3, tkt3, stride=2, padding=1, output_padding=1))
    xd, kdn, bd = _arr(rng, 1024, 1024), _arr(rng, 1024, 1024), _arr(rng, 1024)
    txd, tkd_, tbd = (torch.from_numpy(xd), torch.from_numpy(np.ascontiguousarray(kdn.T)),
                      torch.from_numpy(bd))
    add("dense 1024->1024 batch 1024", 1024 ** 3,
        lambda: ops.matmul(xd, kdn, bias=bd),
        lambda: F.linear(txd, tkd_, tbd))
    xs = _arr(rng, 1, 512)
    dense = Daoloth(128)
    dense(xs)
    linear = torch.nn.Linear(512, 128)
    txs = torch.from_numpy(xs)
    add("Daoloth(128) layer call, batch 1", None, lambda: dense(xs), lambda: linear(txs))
    xu = _arr(rng, 1, 64, 64, 64, 16)
    txu = _nchw(torch, xu)
    add("upsampling3d x2 nearest 16ch 1x64^3", None,
        lambda: ops.upsample(xu, (2, 2, 2)),
        lambda: F.interpolate(txu, scale_factor=2, mode="nearest"))
    return out


# Pause before each timed block: torch's OpenMP workers keep spinning for a while after
# a call (and cthulhu's helpers for 0.1 ms); on a machine with few cores they would take
# a core from the other library's next timing.
SETTLE_S = 0.01


def _best(func, runs, inner, other):
    """Best seconds per call of ``func``, rounds alternating with ``other``."""
    best = [math.inf, math.inf]
    for _ in range(runs):
        for i, f in enumerate((func, other)):
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            for _ in range(inner[i]):
                f()
            best[i] = min(best[i], (time.perf_counter() - t0) / inner[i])
    return best


def _best_warm(func, runs, inner, other):
    """Best seconds of one call of ``func`` in the steady state: each round, after the
    pause, a run of ``inner`` back-to-back calls, each timed, the first (cold) one not
    counted; rounds alternate with ``other``. A minimum, like :func:`_best`: a long
    timing would average in whatever else the machine did meanwhile."""
    best = [math.inf, math.inf]
    for _ in range(runs):
        for i, f in enumerate((func, other)):
            time.sleep(SETTLE_S)
            f()
            for _ in range(max(1, inner[i] - 1)):
                t0 = time.perf_counter()
                f()
                best[i] = min(best[i], time.perf_counter() - t0)
    return best


def _inner(func, seconds=2e-3):
    """Calls per timing so that one timing lasts about ``seconds`` (~2 ms: tiny ops)."""
    t0 = time.perf_counter()
    func()
    once = time.perf_counter() - t0
    return max(1, min(2000, int(seconds / max(once, 1e-7))))


# A steady-state timing: back-to-back calls lasting about this long.
STEADY_S = 0.02


GEMM_N = 1536


def _gemm_gflops(torch, runs):
    """Best float32 GEMM rate of ``torch.mm`` (oneDNN/MKL): the machine's GEMM peak."""
    a = torch.randn(GEMM_N, GEMM_N)
    b = torch.randn(GEMM_N, GEMM_N)
    torch.mm(a, b)
    best = math.inf
    for _ in range(max(10, runs)):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * GEMM_N ** 3 / best / 1e9


def _steady_allocator():
    """glibc serves big blocks with fresh ``mmap`` memory (a page fault per 4 KiB on
    every call) until a freed large block raises its threshold; freeing one block
    just under the 32 MiB ceiling puts both libraries in the steady state at once."""
    block = np.ones((31 << 20) // 8)
    del block


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_conv",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default=f"1,{os.cpu_count() or 1}",
                        help="comma-separated thread counts (default: 1 and all CPUs)")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("CTHULHU_BENCH_RUNS", 15)),
                        help="rounds per workload and thread count; the best counts")
    parser.add_argument("--only", default="", help="comma-separated name fragments")
    parser.add_argument("--steady-runs", type=int, default=10,
                        help="rounds of the steady-state timings (0: skip them)")
    args = parser.parse_args([] if argv is None else argv)
    counts = sorted({int(t) for t in args.threads.split(",") if t.strip()})

    import threadpoolctl
    import torch

    from cthulhu.devices.numpy_ import _native, threads

    _steady_allocator()
    command = shlex.join([os.path.basename(sys.executable), "-m", "benchmarks.bench_conv",
                          *(sys.argv[1:] if argv is None else argv)])
    env = " ".join(f"{k}={os.environ[k]}" for k in ("CTHULHU_NATIVE", "CTHULHU_ISA")
                   if k in os.environ)
    print(f"# command: {env + ' ' if env else ''}{command}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"NumPy {np.__version__}, torch {torch.__version__}; native: {_native.describe()}")
    print(f"# best of {args.runs} rounds (alternating libraries); ms per call; "
          "ratio = cthulhu / torch (lower is better)")
    wanted = [w for w in args.only.split(",") if w]
    todo = [c for c in cases() if not wanted or any(w in c[0] for w in wanted)]
    if not todo:
        parser.error(f"--only {args.only!r} matches no workload; the names: "
                     + "; ".join(c[0] for c in cases()))
    results = {}                       # (name, threads) -> (ours, theirs)
    steady = {}
    peaks = {}
    controller = threadpoolctl.ThreadpoolController()
    for n in counts:
        torch.set_num_threads(n)
        with controller.limit(limits=n, user_api="blas"), threads.limit(n), \
                torch.inference_mode():
            peaks[n] = _gemm_gflops(torch, args.runs)
            for name, _, ours, theirs in todo:
                ours()
                theirs()
                inner = (_inner(ours), _inner(theirs))
                results[name, n] = _best(ours, args.runs, inner, theirs)
                if args.steady_runs > 0:
                    inner = (_inner(ours, STEADY_S), _inner(theirs, STEADY_S))
                    steady[name, n] = _best_warm(ours, args.steady_runs, inner, theirs)
    _report(results, todo, counts)
    conv2d = next((c for c in todo if c[0].startswith("conv2d 3x3 64->64")), None)
    for n in counts:
        line = f"# {n} threads: torch.mm {GEMM_N}^3 float32 {peaks[n]:.0f} GFLOP/s"
        if conv2d is not None:
            gflops = 2 * conv2d[1] / results[conv2d[0], n][0] / 1e9
            line += (f"; conv2d 64->64: ours {gflops:.0f} GFLOP/s ({gflops / peaks[n]:.0%} of "
                     f"that), torch {2 * conv2d[1] / results[conv2d[0], n][1] / 1e9:.0f}")
        print(line)
    if steady:
        print(f"# steady state: {args.steady_runs} rounds, each a run of back-to-back calls "
              f"lasting ~{STEADY_S * 1e3:.0f} ms after the pause; the best call but each "
              "run's first; ms per call")
        _report(steady, todo, counts)
    return 0


def _report(results, todo, counts):
    """The table of times and ratios, the geomean, the parallel efficiencies."""
    head = f"{'workload':40s}" + "".join(f" | {n:>2d} thr: ours  torch  ratio" for n in counts)
    print(head)
    for name, _, _, _ in todo:
        row = f"{name:40s}"
        for n in counts:
            ours, theirs = results[name, n]
            row += f" | {ours * 1e3:13.3f} {theirs * 1e3:6.3f} {ours / theirs:6.2f}"
        print(row)
    row = f"{'geomean ratio':40s}"
    for n in counts:
        ratios = [results[c[0], n][0] / results[c[0], n][1] for c in todo
                  if c[0] not in BEYOND_THE_TABLE]
        mean = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else math.nan
        row += f" | {mean:27.2f}"
    print(row)
    if len(counts) >= 2:
        a, b = counts[0], counts[1]
        print(f"# parallel efficiency {a}->{b} threads, t({a})*{a} / (t({b})*{b}): "
              "ours, torch")
        for name, _, _, _ in todo:
            (oa, ta), (ob, tb) = results[name, a], results[name, b]
            print(f"{name:40s} {oa * a / (ob * b):6.0%} {ta * a / (tb * b):6.0%}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
