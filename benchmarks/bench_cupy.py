"""The CuPy device's CUDA kernels on a GPU: convolutions against cuDNN (PyTorch's
``conv*d`` on the same GPU, same run) and the memory-bound kernels against the GPU's
memory bandwidth.

``python -m benchmarks.bench_cupy`` prints one row per case:

* convolutions: median time of ``cthulhu.ops`` on CuPy arrays and of
  ``torch.nn.functional.conv*d`` (cuDNN, its native NCHW/NCDHW layout, TF32 off so
  both do true float32 math), achieved TFLOP/s, and ``ratio = cudnn_ms / cthulhu_ms``
  (the target is >= 0.5 on 3x3 convolutions). Without a CUDA build of PyTorch the
  cuDNN columns read ``n/a``.
* memory-bound kernels (up-sampling, depthwise): GB/s moved (every input and output
  byte once) as a fraction of the theoretical peak (memory clock x bus width) and of a
  device-to-device copy measured in the same run (the target is >= 70%).

Without CuPy or a GPU it says so and exits with status 0.
"""

from __future__ import annotations

import statistics
import sys


def _gpu_problem():
    from cthulhu.devices.cupy_ import CupyPlugin

    ok, reason = CupyPlugin().available()
    return None if ok else reason


def _time_gpu(cp, func, runs=20):
    """Median milliseconds of ``func`` between CUDA events (after two warm-up calls)."""
    func()
    func()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(runs):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        func()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop))
    return statistics.median(times)


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch


def _conv_rows(cp, torch):
    from cthulhu import ops

    rng = cp.random.default_rng(0)
    cases = [
        # name, x shape (channels_last), kernel shape, padding
        ("conv2d 3x3 64->64 32x56x56", (32, 56, 56, 64), (3, 3, 64, 64)),
        ("conv2d 3x3 128->128 32x28x28", (32, 28, 28, 128), (3, 3, 128, 128)),
        ("conv2d 3x3 256->256 32x14x14", (32, 14, 14, 256), (3, 3, 256, 256)),
        ("conv3d 3x3x3 32->32 2x32^3", (2, 32, 32, 32, 32), (3, 3, 3, 32, 32)),
        ("conv3d 3x3x3 64->64 1x32^3", (1, 32, 32, 32, 64), (3, 3, 3, 64, 64)),
    ]
    rows = []
    for name, xshape, kshape in cases:
        rank = len(kshape) - 2
        for fmt in ("channels_last", "channels_first"):
            x = rng.standard_normal(xshape, dtype=cp.float32)
            if fmt == "channels_first":
                x = cp.ascontiguousarray(cp.moveaxis(x, -1, 1))
            k = rng.standard_normal(kshape, dtype=cp.float32)
            ours = _time_gpu(cp, lambda x=x, k=k, fmt=fmt: ops.conv(
                x, k, padding="same", data_format=fmt))
            n_out = 1
            for v in xshape[:-1]:
                n_out *= v
            flops = 2.0 * n_out * kshape[-1] * kshape[-2] * (3 ** rank)
            theirs = None
            if torch is not None:
                tx = torch.as_tensor(cp.ascontiguousarray(cp.moveaxis(x, -1, 1))
                                     if fmt == "channels_last" else x, device="cuda")
                tk = torch.as_tensor(cp.ascontiguousarray(
                    cp.transpose(k, (rank + 1, rank, *range(rank)))), device="cuda")
                conv = torch.nn.functional.conv2d if rank == 2 else torch.nn.functional.conv3d
                theirs = _time_gpu(cp, lambda tx=tx, tk=tk, conv=conv: conv(tx, tk, padding=1))
            rows.append((f"{name} {fmt}", ours, theirs, flops / ours / 1e9))
    rows.append(_conv_transpose_row(cp, torch, rng))
    return rows


def _conv_transpose_row(cp, torch, rng):
    """Keras Conv2DTranspose(64, 3, strides=2, padding='same') on 32x28x28x64 (-> 56x56)."""
    from cthulhu import ops

    x = rng.standard_normal((32, 28, 28, 64), dtype=cp.float32)
    k = rng.standard_normal((3, 3, 64, 64), dtype=cp.float32)  # (kh, kw, F, C)
    ours = _time_gpu(cp, lambda: ops.conv_transpose(x, k, strides=2, padding="same"))
    flops = 2.0 * 32 * 28 * 28 * 64 * 64 * 9  # every input sample meets every tap once
    theirs = None
    if torch is not None:
        tx = torch.as_tensor(cp.ascontiguousarray(cp.moveaxis(x, -1, 1)), device="cuda")
        tk = torch.as_tensor(cp.ascontiguousarray(cp.transpose(k, (3, 2, 0, 1))),
                             device="cuda")  # (C, F, kh, kw)
        theirs = _time_gpu(cp, lambda: torch.nn.functional.conv_transpose2d(
            tx, tk, stride=2, padding=1, output_padding=1))
    return ("convT2d 3x3 s2 64->64 32x28x28 channels_last", ours, theirs, flops / ours / 1e9)


def _peak_bandwidth(cp):
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    return 2.0 * props["memoryClockRate"] * 1e3 * props["memoryBusWidth"] / 8


def _memory_rows(cp):
    from cthulhu import ops

    rng = cp.random.default_rng(0)
    rows = []
    src = rng.standard_normal((256 * 1024 * 1024 // 4,), dtype=cp.float32)  # 256 MiB
    dst = cp.empty_like(src)
    copy_ms = _time_gpu(cp, lambda: dst.__setitem__(Ellipsis, src))
    copy_gbs = 2 * src.nbytes / copy_ms / 1e6
    x = rng.standard_normal((16, 128, 128, 64), dtype=cp.float32)
    for interpolation in ("nearest", "bilinear"):
        ms = _time_gpu(cp, lambda m=interpolation: ops.upsample(x, (2, 2), interpolation=m))
        rows.append((f"upsample2d {interpolation} x2 16x128x128x64", ms, 5 * x.nbytes))
    x3 = rng.standard_normal((2, 64, 64, 64, 32), dtype=cp.float32)
    ms = _time_gpu(cp, lambda: ops.upsample(x3, (2, 2, 2)))
    rows.append(("upsample3d nearest x2 2x64^3x32", ms, 9 * x3.nbytes))
    xd = rng.standard_normal((16, 112, 112, 64), dtype=cp.float32)
    kd = rng.standard_normal((3, 3, 64, 1), dtype=cp.float32)
    ms = _time_gpu(cp, lambda: ops.depthwise_conv(xd, kd, padding="same"))
    rows.append(("depthwise2d 3x3 16x112x112x64", ms, 2 * xd.nbytes + kd.nbytes))
    return copy_gbs, [(name, ms, nbytes / ms / 1e6) for name, ms, nbytes in rows]


def main(argv=None) -> int:
    problem = _gpu_problem()
    if problem is not None:
        print(f"bench_cupy: no GPU to measure on ({problem}); nothing measured")
        return 0
    import cupy as cp

    torch = _torch_cuda()
    name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    print(f"device: {name}; peer: {'torch ' + torch.__version__ + ' cuDNN' if torch else 'n/a'}")
    print(f"{'case':48s} {'cthulhu ms':>11s} {'cuDNN ms':>9s} {'TFLOP/s':>8s} {'ratio':>6s}")
    for case, ours, theirs, tflops in _conv_rows(cp, torch):
        ratio = f"{theirs / ours:6.2f}" if theirs else "   n/a"
        theirs_s = f"{theirs:9.3f}" if theirs else "      n/a"
        print(f"{case:48s} {ours:11.3f} {theirs_s} {tflops:8.2f} {ratio}")
    peak = _peak_bandwidth(cp) / 1e9
    copy_gbs, rows = _memory_rows(cp)
    print(f"\nmemory: theoretical peak {peak:.0f} GB/s, device copy {copy_gbs:.0f} GB/s")
    print(f"{'case':48s} {'ms':>8s} {'GB/s':>7s} {'% peak':>7s} {'% copy':>7s}")
    for case, ms, gbs in rows:
        print(f"{case:48s} {ms:8.3f} {gbs:7.0f} {100 * gbs / peak:6.0f}% "
              f"{100 * gbs / copy_gbs:6.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
