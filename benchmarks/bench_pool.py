"""Pooling on the NumPy device against the memory bandwidth and PyTorch CPU, in one run.

``python -m benchmarks.bench_pool [--threads 1,2] [--runs 9] [--only max2d,...]``

Pooling is memory bound: each workload moves ``input + output`` bytes. The ceiling is
a copy of the input's bytes with the same number of threads (``numpy.copyto`` on as
many parts, in as many threads: NumPy releases the GIL; glibc's ``memcpy`` streams
with non-temporal stores, the fastest a CPU moves memory), whose bandwidth counts
its read and its write. Printed per workload and thread count: cthulhu's time
(``cthulhu.ops.pool`` / ``global_pool``, native kernels), its bandwidth as a fraction
of the copy's (issue 10's target: >= 80%), PyTorch's time for the same reduction
(``torch.nn.functional`` pooling or ``mean``/``amax``, on a tensor in the same memory
layout: ``channels_last`` memory format for channels_last) and ``ratio = cthulhu /
torch`` (lower is better). TensorFlow's ``same`` pads the odd extra at the end,
PyTorch symmetrically: the ``same`` rows give torch the symmetric padding of the same
output size (the same work). Each time is the best of ``--runs`` rounds that alternate
the libraries (``benchmarks.bench_conv``'s method); on a shared machine only the
minimum means anything. The inputs are several times the size of a last-level cache.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import sys
import threading

import numpy as np

from benchmarks.bench_conv import _best, _inner, _steady_allocator

# (name, input shape (channels_last), data format, pool_size, strides, padding, kind);
# pool_size None: global pooling
WORKLOADS = (
    ("max2d 2x2 32x112x112x64", (32, 112, 112, 64), (2, 2), (2, 2), "valid", "max"),
    ("avg2d 3x3 s2 same 32x112x112x64", (32, 112, 112, 64), (3, 3), (2, 2), "same",
     "average"),
    ("max3d 2x2x2 1x128^3x32", (1, 128, 128, 128, 32), (2, 2, 2), (2, 2, 2), "valid", "max"),
    ("avg3d 2x2x2 1x128^3x32", (1, 128, 128, 128, 32), (2, 2, 2), (2, 2, 2), "valid",
     "average"),
    ("max1d 4 32x16384x64", (32, 16384, 64), (4,), (4,), "valid", "max"),
    ("global avg2d 32x56x56x512", (32, 56, 56, 512), None, None, None, "average"),
    ("global max3d 1x128^3x32", (1, 128, 128, 128, 32), None, None, None, "max"),
)
FORMATS = ("channels_last", "channels_first")


def _to_first(x):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def _torch_input(torch, x, fmt):
    """A tensor (N, C, *S) whose memory is ``x``'s layout."""
    if fmt == "channels_first":
        return torch.from_numpy(x)
    t = torch.from_numpy(x).movedim(-1, 1)      # a channels_last-strided view
    if x.ndim in (4, 5):
        memory = torch.channels_last if x.ndim == 4 else torch.channels_last_3d
        return t.contiguous(memory_format=memory)
    return t


def _torch_call(torch, tx, pool_size, strides, padding, kind, rank):
    import torch.nn.functional as F

    axes = tuple(range(2, 2 + rank))
    if pool_size is None:
        return (lambda: torch.amax(tx, dim=axes)) if kind == "max" else \
            (lambda: torch.mean(tx, dim=axes))
    pad = 0
    if padding == "same":        # symmetric padding of TensorFlow's output size
        pad = tuple((k - 1) // 2 for k in pool_size)
    fn = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d, ("max", 3): F.max_pool3d,
          ("average", 1): F.avg_pool1d, ("average", 2): F.avg_pool2d,
          ("average", 3): F.avg_pool3d}[kind, rank]
    extra = {"count_include_pad": False} if kind == "average" else {}
    return lambda: fn(tx, pool_size, strides, pad, **extra)


def cases(formats=FORMATS):
    """``[(name, format, input bytes, output bytes, cthulhu thunk, torch thunk, source)]``."""
    import torch

    from cthulhu import ops

    rng = np.random.default_rng(0)
    out = []
    for name, shape, pool_size, strides, padding, kind in WORKLOADS:
        last = rng.standard_normal(shape, dtype=np.float32)
        rank = len(shape) - 2
        for fmt in formats:
            x = last if fmt == "channels_last" else _to_first(last)
            if pool_size is None:
                def ours(x=x, fmt=fmt, kind=kind):
                    return ops.global_pool(x, data_format=fmt, kind=kind)
            else:
                def ours(x=x, fmt=fmt, pool_size=pool_size, strides=strides, padding=padding,
                         kind=kind):
                    return ops.pool(x, pool_size, strides=strides, padding=padding,
                                    data_format=fmt, kind=kind)
            theirs = _torch_call(torch, _torch_input(torch, x, fmt), pool_size, strides,
                                 padding, kind, rank)
            out.append((name, fmt, x.nbytes, ours().nbytes, ours, theirs, x))
    return out


def _parallel_copy(dst, src, n):
    """``dst[:] = src`` in ``n`` contiguous parts on ``n`` threads."""
    if n == 1:
        np.copyto(dst, src)
        return
    bounds = [src.size * i // n for i in range(n + 1)]
    workers = [threading.Thread(target=np.copyto, args=(dst[a:b], src[a:b]))
               for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_pool",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default=f"1,{os.cpu_count() or 1}",
                        help="comma-separated thread counts (default: 1 and all CPUs)")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("CTHULHU_BENCH_RUNS", 9)),
                        help="rounds per workload and thread count; the best counts")
    parser.add_argument("--only", default="", help="comma-separated name fragments")
    args = parser.parse_args([] if argv is None else argv)
    counts = sorted({int(t) for t in args.threads.split(",") if t.strip()})

    import torch

    from cthulhu.devices.numpy_ import _native, threads

    _steady_allocator()
    command = shlex.join([os.path.basename(sys.executable), "-m", "benchmarks.bench_pool",
                          *(sys.argv[1:] if argv is None else argv)])
    env = " ".join(f"{k}={os.environ[k]}" for k in ("CTHULHU_NATIVE", "CTHULHU_ISA")
                   if k in os.environ)
    print(f"# command: {env + ' ' if env else ''}{command}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"NumPy {np.__version__}, torch {torch.__version__}; native: {_native.describe()}")
    print(f"# best of {args.runs} rounds (alternating); float32; GB/s counts input + output "
          "bytes; copy: the input's bytes copied (read + write) on as many threads")
    wanted = [w for w in args.only.split(",") if w]
    todo = [c for c in cases() if not wanted or any(w in c[0] for w in wanted)]
    results = {}
    for n in counts:
        torch.set_num_threads(n)
        with threads.limit(n), torch.inference_mode():
            for name, fmt, nin, nout, ours, theirs, x in todo:
                target = np.empty_like(x)

                def copy(x=x, target=target, n=n):
                    _parallel_copy(target.reshape(-1), x.reshape(-1), n)

                copy()
                ours()
                theirs()
                inner = (_inner(ours), _inner(theirs))
                t_ours, t_torch = _best(ours, args.runs, inner, theirs)
                t_copy = _best(copy, args.runs, (1, 1), copy)[0]
                results[name, fmt, n] = (t_ours, t_torch, t_copy, nin, nout)
                del target
    print(f"{'workload':34s} {'format':14s}" + "".join(
        f" | {n:>2d} thr: ours ms  GB/s  %copy  torch ms  ratio" for n in counts))
    ratios = {n: [] for n in counts}
    fractions = {n: [] for n in counts}
    for name, fmt, *_ in todo:
        row = f"{name:34s} {fmt:14s}"
        for n in counts:
            t_ours, t_torch, t_copy, nin, nout = results[name, fmt, n]
            bw = (nin + nout) / t_ours
            copy_bw = 2 * nin / t_copy
            ratios[n].append(t_ours / t_torch)
            fractions[n].append(bw / copy_bw)
            row += (f" | {t_ours * 1e3:12.2f} {bw / 1e9:5.1f} {bw / copy_bw:6.0%} "
                    f"{t_torch * 1e3:9.2f} {t_ours / t_torch:6.2f}")
        print(row)
    row = f"{'geomean':34s} {'':14s}"
    for n in counts:
        geo_r = math.exp(sum(map(math.log, ratios[n])) / len(ratios[n]))
        geo_f = math.exp(sum(map(math.log, fractions[n])) / len(fractions[n]))
        row += f" | {'':12s} {'':5s} {geo_f:6.0%} {'':9s} {geo_r:6.2f}"
    print(row)
    for n in counts:
        copies = {results[k][3]: results[k][2] for k in results if k[2] == n}
        rates = ", ".join(f"{2 * b / t / 1e9:.1f}" for b, t in sorted(copies.items()))
        print(f"# {n} threads: copy GB/s by input size: {rates}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
