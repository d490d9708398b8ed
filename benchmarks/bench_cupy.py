"""The CuPy device's CUDA kernels on a GPU, against cuDNN (PyTorch on the same GPU, same
run) and against the GPU's memory bandwidth.

``python -m benchmarks.bench_cupy [section ...]``, sections (default: all but ``tiles``):

* ``conv``: 3x3 convolutions, median ms of cthulhu in each precision (strict float32,
  tf32, bf16; ``ops.conv(..., precision=...)``) and of cuDNN in the same three modes
  (``allow_tf32`` off / on, bfloat16 tensors; the faster of NCHW and channels_last
  memory formats), and ``ratio = cuDNN ms / cthulhu ms`` per mode (targets: strict
  >= 0.8, tf32 >= 0.8, bf16 >= 0.7).
* ``memory``: memory-bound kernels in GB/s (each input and output byte once) as a
  fraction of a device-to-device copy measured in the same run (target >= 80%).
* ``models``: whole models, cthulhu vs PyTorch with the same weights, strict and tf32:
  a 3D encoder-decoder (convolutions + up-sampling) and a 2D MobileNet-like stack.
* ``tiles``: every igemm tile forced on the conv cases (for tuning the tile choice).
* ``start``: a fresh process's first model call vs its second (disk-cached kernels).

Without CuPy or a GPU it says so and exits with status 0.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

CONV_CASES = [
    ("conv2d 3x3 64->64 32x56x56", (32, 56, 56, 64), (3, 3, 64, 64)),
    ("conv2d 3x3 128->128 32x28x28", (32, 28, 28, 128), (3, 3, 128, 128)),
    ("conv2d 3x3 256->256 32x14x14", (32, 14, 14, 256), (3, 3, 256, 256)),
    ("conv3d 3x3x3 32->32 2x32^3", (2, 32, 32, 32, 32), (3, 3, 3, 32, 32)),
    ("conv3d 3x3x3 64->64 1x32^3", (1, 32, 32, 32, 64), (3, 3, 3, 64, 64)),
    ("conv3d 3x3x3 16->16 1x64^3", (1, 64, 64, 64, 16), (3, 3, 3, 16, 16)),
]
PRECISIONS = ("float32", "tf32", "bfloat16")


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
    torch.backends.cudnn.benchmark = True
    return torch


def _torch_mode(torch, precision):
    tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def _cudnn_ms(cp, torch, x, k, precision, transposed=False, stride=1):
    """Best of NCHW and channels_last memory formats, in ``precision``."""
    import torch.nn.functional as F

    rank = k.ndim - 2
    _torch_mode(torch, precision)
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
    tx = torch.as_tensor(cp.ascontiguousarray(cp.moveaxis(x, -1, 1)), device="cuda").to(dtype)
    perm = (rank, rank + 1, *range(rank)) if transposed else (rank + 1, rank, *range(rank))
    tk = torch.as_tensor(cp.ascontiguousarray(cp.transpose(k, perm)), device="cuda").to(dtype)
    if transposed:
        def fn(a, w):
            return F.conv_transpose2d(a, w, stride=stride, padding=1, output_padding=1)
    else:
        fn = F.conv2d if rank == 2 else F.conv3d
    best = None
    for fmt in (torch.contiguous_format,
                torch.channels_last if rank == 2 else torch.channels_last_3d):
        a, w = tx.contiguous(memory_format=fmt), tk.contiguous(memory_format=fmt)
        kwargs = {} if transposed else {"padding": 1}
        ms = _time_gpu(cp, lambda a=a, w=w, kw=kwargs: fn(a, w, **kw))
        best = ms if best is None else min(best, ms)
    _torch_mode(torch, "float32")
    return best


def _conv_rows(cp, torch):
    from cthulhu import ops

    rng = cp.random.default_rng(0)
    rows = []
    for name, xshape, kshape in CONV_CASES:
        x = rng.standard_normal(xshape, dtype=cp.float32)
        k = rng.standard_normal(kshape, dtype=cp.float32)
        flops = 2.0 * (x.size // xshape[-1]) * kshape[-1] * kshape[-2] * 3 ** (len(kshape) - 2)
        for fmt in ("channels_last", "channels_first"):
            xi = x if fmt == "channels_last" else cp.ascontiguousarray(cp.moveaxis(x, -1, 1))
            ours = {p: _time_gpu(cp, lambda p=p, xi=xi, k=k, fmt=fmt: ops.conv(
                xi, k, padding="same", data_format=fmt, precision=p)) for p in PRECISIONS}
            theirs = {p: _cudnn_ms(cp, torch, x, k, p) for p in PRECISIONS} if torch else {}
            rows.append((f"{name} {fmt[9:]}", ours, theirs, flops))
    x = rng.standard_normal((32, 28, 28, 64), dtype=cp.float32)
    k = rng.standard_normal((3, 3, 64, 64), dtype=cp.float32)
    ours = {p: _time_gpu(cp, lambda p=p: ops.conv_transpose(x, k, strides=2, padding="same",
                                                             precision=p)) for p in PRECISIONS}
    theirs = ({p: _cudnn_ms(cp, torch, x, k, p, transposed=True, stride=2) for p in PRECISIONS}
              if torch else {})
    rows.append(("convT2d 3x3 s2 64->64 32x28x28 last", ours, theirs,
                 2.0 * 32 * 28 * 28 * 64 * 64 * 9))
    return rows


def _print_conv(rows):
    head = " ".join(f"{p[:4]:>7s}" for p in PRECISIONS)
    print(f"{'case (ms; ratio = cuDNN/cthulhu)':42s} ours: {head} | cuDNN: {head} | "
          f"ratio: {head} | TF/s best")
    for case, ours, theirs, flops in rows:
        o = " ".join(f"{ours[p]:7.3f}" for p in PRECISIONS)
        t = " ".join(f"{theirs[p]:7.3f}" if theirs else "    n/a" for p in PRECISIONS)
        r = " ".join(f"{theirs[p] / ours[p]:7.2f}" if theirs else "    n/a" for p in PRECISIONS)
        print(f"{case:42s}       {o} |        {t} |        {r} | "
              f"{flops / min(ours.values()) / 1e9:6.1f}")


def _memory_rows(cp):
    from cthulhu import ops
    from cthulhu.devices import Epilogue
    from cthulhu.devices.cupy_ import _conv

    rng = cp.random.default_rng(0)
    src = rng.standard_normal((256 * 1024 * 1024 // 4,), dtype=cp.float32)
    dst = cp.empty_like(src)
    copy_gbs = 2 * src.nbytes / _time_gpu(cp, lambda: dst.__setitem__(Ellipsis, src)) / 1e6
    rows = []
    x = rng.standard_normal((16, 128, 128, 64), dtype=cp.float32)
    for mode in ("nearest", "bilinear"):
        ms = _time_gpu(cp, lambda m=mode: ops.upsample(x, (2, 2), interpolation=m))
        rows.append((f"upsample2d {mode} x2 16x128x128x64", ms, 5 * x.nbytes))
    x3 = rng.standard_normal((2, 64, 64, 64, 32), dtype=cp.float32)
    for mode in ("nearest", "bilinear"):
        ms = _time_gpu(cp, lambda m=mode: ops.upsample(x3, (2, 2, 2), interpolation=m))
        rows.append((f"upsample3d {mode.replace('bi', 'tri')} x2 2x64^3x32", ms, 9 * x3.nbytes))
    xd = rng.standard_normal((16, 112, 112, 64), dtype=cp.float32)
    kd = rng.standard_normal((3, 3, 64, 1), dtype=cp.float32)
    ms = _time_gpu(cp, lambda: ops.depthwise_conv(xd, kd, padding="same"))
    rows.append(("depthwise2d 3x3 16x112x112x64", ms, 2 * xd.nbytes))
    kd3 = rng.standard_normal((3, 3, 3, 32, 1), dtype=cp.float32)
    ms = _time_gpu(cp, lambda: ops.depthwise_conv(x3, kd3, padding="same"))
    rows.append(("depthwise3d 3x3x3 2x64^3x32", ms, 2 * x3.nbytes))
    b, s, t = (rng.standard_normal((64,), dtype=cp.float32) for _ in range(3))
    y = xd.copy()
    ms = _time_gpu(cp, lambda: _conv.apply_epilogue(y, Epilogue(bias=b, activation="relu"),
                                                    "channels_last"))
    rows.append(("bias+relu 16x112x112x64 (in place)", ms, 2 * xd.nbytes))
    ms = _time_gpu(cp, lambda: _conv.apply_epilogue(y, Epilogue(scale=s, shift=t),
                                                    "channels_last"))
    rows.append(("batch-norm scale/shift 16x112x112x64", ms, 2 * xd.nbytes))
    return copy_gbs, [(name, ms, nbytes / ms / 1e6) for name, ms, nbytes in rows]


def _models():
    from cthulhu import layers as L
    from cthulhu.models import Pile

    unet = Pile([
        L.Cthalpa3D(16, 3, padding="same", activation="relu", input_shape=(64, 64, 64, 4)),
        L.Cthalpa3D(32, 3, strides=2, padding="same", activation="relu"),
        L.Cthalpa3D(32, 3, padding="same", activation="relu"),
        L.UbboSathla3D(2),
        L.Cthalpa3D(16, 3, padding="same", activation="relu"),
        L.Cthalpa3D(4, 1),
    ])
    mobile = [L.Cthalpa2D(32, 3, strides=2, padding="same", activation="relu",
                          input_shape=(224, 224, 4))]
    for filters, stride in ((64, 1), (128, 2), (128, 1), (256, 2)):
        mobile += [L.DepthwiseCthalpa2D(3, strides=stride, padding="same", activation="relu"),
                   L.Cthalpa2D(filters, 1, activation="relu")]
    return [("3D encoder-decoder 2x64^3x4", unet, (2, 64, 64, 64, 4)),
            ("2D MobileNet-like 32x224^2x4", Pile(mobile), (32, 224, 224, 4))]


def _torch_model(torch, model):
    """The same layers in PyTorch (NCHW), with the cthulhu model's weights."""
    import torch.nn.functional as F

    steps = []
    for layer in model.layers:
        kind = type(layer).__name__
        weights = [torch.as_tensor(w, device="cuda") for w in layer.get_weights()]
        if kind.startswith("Cthalpa"):
            rank = weights[0].ndim - 2
            w = weights[0].permute(rank + 1, rank, *range(rank)).contiguous()
            conv = F.conv2d if rank == 2 else F.conv3d
            stride, pad = layer.strides, "same" if layer.padding == "same" else 0
            if max(stride) > 1:  # torch has no padding="same" with strides: pad by hand
                pad = tuple((k - 1) // 2 for k in layer.kernel_size)
            steps.append((conv, w, weights[1], stride, pad, 1, layer.activation))
        elif kind.startswith("Depthwise"):
            w = weights[0].permute(2, 3, 0, 1).reshape(-1, 1, *weights[0].shape[:2]).contiguous()
            steps.append((F.conv2d, w, weights[1], layer.strides, 1, w.shape[0], layer.activation))
        else:  # up-sampling
            steps.append(("up", layer.size))

    def run(x):
        for step in steps:
            if step[0] == "up":
                x = F.interpolate(x, scale_factor=tuple(step[1]), mode="nearest")
                continue
            fn, w, b, stride, pad, groups, act = step
            x = fn(x, w, b, stride=stride, padding=pad, groups=groups)
            if getattr(act, "__name__", act) == "relu":
                x = F.relu(x)
        return x

    return run


def _model_rows(cp, torch):
    rows = []
    for name, model, shape in _models():
        x = cp.random.default_rng(0).standard_normal(shape, dtype=cp.float32)
        model.predict(x[:1])  # builds the weights
        ours, theirs = {}, {}
        for precision in ("float32", "tf32"):
            from cthulhu import config

            with config.float32_precision_scope(precision):
                ours[precision] = _time_gpu(
                    cp, lambda m=model, x=x, n=shape[0]: m.predict(x, batch_size=n), runs=5)
            if torch is not None:
                _torch_mode(torch, precision)
                run = _torch_model(torch, model)
                tx = torch.as_tensor(cp.ascontiguousarray(cp.moveaxis(x, -1, 1)), device="cuda")
                with torch.no_grad():
                    theirs[precision] = _time_gpu(cp, lambda r=run, t=tx: r(t), runs=5)
                _torch_mode(torch, "float32")
        rows.append((name, ours, theirs))
    return rows


def _tile_rows(cp):
    from cthulhu.devices import Epilogue
    from cthulhu.devices.cupy_ import _conv, _igemm
    from cthulhu.shapes import ConvGeometry

    rng = cp.random.default_rng(0)
    rows = []
    for name, xshape, kshape in CONV_CASES:
        rank = len(kshape) - 2
        x = rng.standard_normal(xshape, dtype=cp.float32)
        k = rng.standard_normal(kshape, dtype=cp.float32)
        g = ConvGeometry(kind="conv", rank=rank, data_format="channels_last", batch=xshape[0],
                         in_spatial=xshape[1:-1], in_channels=xshape[-1],
                         out_spatial=xshape[1:-1], out_channels=kshape[-1],
                         kernel_size=kshape[:-2], strides=(1,) * rank, dilation=(1,) * rank,
                         pads=((1, 1),) * rank)
        for compute in ("strict", "tf32", "bf16"):
            times = {t: _time_gpu(cp, lambda t=t, x=x, k=k, g=g, c=compute: _conv.conv_igemm(
                x, k, g, Epilogue(), c, tile=t), runs=10)
                     for t in _igemm.TILES[_igemm.family(compute)]}
            chosen = _igemm.choose_tile(compute, x.size // xshape[-1], kshape[-1],
                                        sm_count=cp.cuda.Device().attributes["MultiProcessorCount"])
            rows.append((f"{name} {compute}", times, chosen))
    return rows


_START_SCRIPT = """
import time, cupy as cp
from cthulhu import layers as L
from cthulhu.models import Pile
m = Pile([L.Cthalpa3D(16, 3, padding="same", activation="relu", input_shape=(None, None, None, 4)),
          L.Cthalpa3D(16, 3, padding="same", activation="relu"), L.Cthalpa3D(4, 3, padding="same")])
x = cp.random.default_rng(0).standard_normal((1, 128, 128, 128, 4), dtype=cp.float32)
times = []
for _ in range(3):
    t = time.perf_counter(); m.predict(x); cp.cuda.Device().synchronize()
    times.append(time.perf_counter() - t)
print(" ".join(f"{v * 1e3:.1f}" for v in times))
"""


def _start_rows():
    out = []
    for attempt in ("first process", "second process"):
        proc = subprocess.run([sys.executable, "-c", _START_SCRIPT], capture_output=True,
                              text=True, timeout=120)
        out.append((attempt, proc.stdout.strip() or proc.stderr.strip()[-200:]))
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    sections = argv or ["conv", "memory", "models", "start"]
    problem = _gpu_problem()
    if problem is not None:
        print(f"bench_cupy: no GPU to measure on ({problem}); nothing measured")
        return 0
    import cupy as cp

    torch = _torch_cuda()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    print(f"device: {name}; peer: {'torch ' + torch.__version__ + ' cuDNN' if torch else 'n/a'}",
          flush=True)
    for section in sections:
        try:
            _SECTIONS[section](cp, torch, props)
        except Exception as exc:  # one failing section must not hide the others
            import traceback

            print(f"\nsection {section} failed: {type(exc).__name__}: {exc}")
            traceback.print_exc(limit=4)
    return 0


def _section_conv(cp, torch, props):
    _print_conv(_conv_rows(cp, torch))


def _section_memory(cp, torch, props):
    copy_gbs, rows = _memory_rows(cp)
    peak = 2.0 * props["memoryClockRate"] * 1e3 * props["memoryBusWidth"] / 8 / 1e9
    print(f"\nmemory: theoretical peak {peak:.0f} GB/s, device copy {copy_gbs:.0f} GB/s")
    print(f"{'case':44s} {'ms':>8s} {'GB/s':>7s} {'% copy':>7s}")
    for case, ms, gbs in rows:
        print(f"{case:44s} {ms:8.3f} {gbs:7.0f} {100 * gbs / copy_gbs:6.0f}%")


def _section_models(cp, torch, props):
    print(f"\n{'model (ms; ratio = torch/cthulhu)':36s} {'ours f32':>9s} {'torch f32':>9s} "
          f"{'ratio':>6s} {'ours tf32':>9s} {'torch tf32':>10s} {'ratio':>6s}")
    for case, ours, theirs in _model_rows(cp, torch):
        cells = []
        for p in ("float32", "tf32"):
            t = theirs.get(p)
            cells.append(f"{ours[p]:9.2f} {t if t else float('nan'):9.2f} "
                         f"{(t / ours[p]) if t else float('nan'):6.2f}")
        print(f"{case:36s} {cells[0]} {cells[1]}")


def _section_tiles(cp, torch, props):
    print("\nigemm tiles (ms each; * = the tile choose_tile picks)")
    for case, times, chosen in _tile_rows(cp):
        cells = " ".join(f"{t}{'*' if t == chosen else ' '}{ms:7.3f}" for t, ms in times.items())
        print(f"{case:40s} {cells}")


def _section_start(cp, torch, props):
    print("\nfresh-process model calls (3D, 3 convs, 128^3x4; ms of calls 1, 2, 3)")
    for attempt, line in _start_rows():
        print(f"  {attempt}: {line}")


_SECTIONS = {"conv": _section_conv, "memory": _section_memory, "models": _section_models,
             "tiles": _section_tiles, "start": _section_start}


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"bench_cupy: {time.perf_counter() - start:.1f} s")
    sys.exit(code)
