"""Speed of the shape algebra: ``import cthulhu.shapes`` and the shapes of 1,000-layer chains.

``python -m benchmarks shapes`` prints, with the issue 2 targets beside them:

* the import time of ``cthulhu.shapes`` in a fresh interpreter (median of
  several), with the bytecode cache a normal install has, and without any
  (every module compiled from source, as under ``PYTHONDONTWRITEBYTECODE=1``
  in a fresh checkout). Target: < 50 ms with the cache.
* the honest chain: 1,000 *distinct* 2D layers (:func:`distinct_chain`: every
  kind of convolution with its own kernel sizes, strides, dilations and
  paddings, transposed convolutions, up-sampling, cropping, zero padding,
  dense, activation and dropout layers) on concrete sizes (nothing is memoised
  between calls): its shapes (target < 5 ms), its shapes plus the
  spatial analysis (receptive field, jump, offset, halo), and its shapes on
  symbolic sizes ``(b, h, w, 8)``.
* the repeated-block chain (200 times conv 3x3 'same', activation, strided
  conv, up-sampling, dropout): shapes, and shapes plus the spatial analysis.
* the peer: PyTorch computing the same chains' shapes with meta tensors
  (no data), when torch is installed.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

_IMPORT = "import sys, time; t = time.perf_counter(); import cthulhu.shapes; " \
          "print(time.perf_counter() - t, 'numpy' in sys.modules)"


def _import_ms(env, runs=7):
    times, numpy = [], False
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _IMPORT], env=env, capture_output=True,
                             text=True, check=True)
        seconds, imported = out.stdout.split()
        times.append(float(seconds) * 1e3)
        numpy = numpy or imported == "True"
    return statistics.median(times), numpy


def import_times():
    """((ms, numpy imported?) with bytecode cache, the same without), in fresh interpreters."""
    with tempfile.TemporaryDirectory() as cached, tempfile.TemporaryDirectory() as empty:
        env = dict(os.environ, PYTHONPYCACHEPREFIX=cached)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-c", "import cthulhu.shapes"], env=env, check=True)
        warm = _import_ms(env)
        env = dict(os.environ, PYTHONPYCACHEPREFIX=empty, PYTHONDONTWRITEBYTECODE="1")
        cold = _import_ms(env)
    return warm, cold


def _median_ms(func, runs=30):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _block_specs():
    from cthulhu.shapes import spec_from_config as spec

    return [spec("Cthalpa2D", {"filters": 16, "kernel_size": 3, "padding": "same"}),
            spec("Azatoth", {"activation": "relu"}),
            spec("Cthalpa2D", {"filters": 16, "kernel_size": 3, "strides": 2, "padding": "same"}),
            spec("UbboSathla2D", {"size": 2}),
            spec("Darkness", {"rate": 0.1})]


def _level_change(rng, n, down):
    """A layer halving (``down``) or doubling the spatial sizes, with its own arguments."""
    from cthulhu.shapes import spec_from_config as spec

    pick = rng.randrange(3)
    if down and pick == 0:
        return spec("Cthalpa2D", {"filters": n, "kernel_size": rng.randint(1, 7), "strides": 2,
                                  "padding": "same"})
    if down and pick == 1:
        return spec("DepthwiseCthalpa2D", {"kernel_size": (3, 5), "strides": 2, "padding": "same",
                                           "depth_multiplier": rng.randint(1, 3)})
    if down:
        return spec("SeparableCthalpa2D", {"filters": n, "kernel_size": 3, "strides": 2,
                                           "padding": "same"})
    if pick == 0:
        return spec("Cthalpa2DTranspose", {"filters": n, "kernel_size": rng.randint(2, 5),
                                           "strides": 2, "padding": "same"})
    if pick == 1:
        return spec("Cthalpa2DTranspose", {"filters": n, "kernel_size": (3, 2), "strides": 2,
                                           "output_padding": (1, 0), "padding": "valid"})
    return spec("UbboSathla2D", {"size": 2})


def _same_level(rng, n, small):
    """A layer keeping the level: a convolution with its own kernel/dilation/padding, or another kind."""
    from cthulhu.shapes import spec_from_config as spec

    k, d = (rng.randint(1, 7), rng.randint(1, 7)), rng.randint(1, 3)
    padding = "same" if small or rng.random() < 0.7 else "valid"
    pick = rng.randrange(9)
    if pick == 0:
        return spec("Cthalpa2D", {"filters": n, "kernel_size": k, "dilation_rate": d,
                                  "padding": padding})
    if pick == 1:
        return spec("SeparableCthalpa2D", {"filters": n, "kernel_size": k, "dilation_rate": d,
                                           "padding": padding,
                                           "depth_multiplier": rng.randint(1, 2)})
    if pick == 2:
        return spec("DepthwiseCthalpa2D", {"kernel_size": k, "padding": "same",
                                           "dilation_rate": d})
    if pick == 3:
        return spec("Daoloth", {"units": n})
    if pick == 4:
        return spec("Azatoth", {"activation": rng.choice(["relu", "tanh"])})
    if pick == 5:
        return spec("Darkness", {"rate": rng.random() / 2})
    if pick == 6:
        return spec("SpatialDarkness2D", {"rate": rng.random() / 2})
    if pick == 7 or small:
        return spec("Xexanoth2D", {"padding": ((rng.randint(0, 3), rng.randint(0, 3)),
                                               rng.randint(0, 3))})
    return spec("Cropping2D", {"cropping": ((rng.randint(0, 2), rng.randint(1, 2)),
                                            rng.randint(1, 2))})


def distinct_chain(layers=1000, seed=0):
    """A ``layers``-long 2D chain of distinct layers, and its input shape.

    Stacked U-Net-like paths (down three levels, then up again) whose every
    layer has its own arguments: convolutions of every kind with kernel sizes
    1 to 7 per axis, strides, dilations, ``same``/``valid``, transposed
    convolutions, up-sampling, dense layers, activations, dropout, cropping and
    zero padding; filters and units count up with the layer. Each spec is
    made by ``spec_from_config`` (the user's path) and checked on the way by
    the validating whole-layer functions.
    """
    import random

    from cthulhu import shapes

    rng = random.Random(seed)
    shape = start = (None, 96, 80, 8)
    specs, level, going_down = [], 0, True
    while len(specs) < layers:
        n = len(specs) + 1
        if rng.random() < 0.2:
            down = level == 0 or (going_down and level < 3)
            level += 1 if down else -1
            going_down = level < 3 if down else level == 0
            sp = _level_change(rng, n, down)
        else:
            sp = _same_level(rng, n, min(shape[1], shape[2]) < 24)
        shape = shapes.chain([sp], shape).output_shape
        specs.append(sp)
    return specs, start


def chain_times(layers=1000):
    """Medians in ms: distinct chain (shapes, + analysis, symbolic) and repeated block."""
    from cthulhu import shapes

    distinct, start = distinct_chain(layers)
    t = {"distinct": _median_ms(lambda: shapes.chain(distinct, start), runs=30),
         "analysis": _median_ms(lambda: shapes.chain(distinct, start).axes, runs=10)}
    sym = shapes.symbolic("b, h, w, 8")
    t["symbolic"] = _median_ms(lambda: shapes.chain(distinct, sym), runs=5)
    block = _block_specs()
    specs = block * (layers // len(block))
    shape = (None, 64, 64, 8)
    t["first"] = _median_ms(lambda: shapes.chain(specs, shape))
    t["block_analysis"] = _median_ms(lambda: shapes.chain(specs, shape).axes, runs=10)
    return (distinct, start), (specs, shape), t


def _torch_run(specs, shape):
    """A function computing ``specs``' output shape with PyTorch meta tensors (NCHW)."""
    import torch
    import torch.nn.functional as F

    meta = torch.device("meta")
    weights = {}

    def weight(*dims):
        w = weights.get(dims)
        if w is None:
            w = weights[dims] = torch.empty(dims, device=meta)
        return w

    def same_pads(x, kernel, strides, dilation):
        # TensorFlow 'same': the odd extra after (written here, apart from cthulhu.shapes)
        pads = []
        for n, k, s, d in zip(x.shape[2:], kernel, strides, dilation, strict=True):
            span = d * (k - 1) + 1
            total = max((-(-n // s) - 1) * s + span - n, 0)
            pads.append((total // 2, total - total // 2))
        return F.pad(x, (*pads[1], *pads[0]))

    def conv(x, sp, out_channels, groups):
        if sp["padding"] == "same":
            x = same_pads(x, sp["kernel_size"], sp["strides"], sp["dilation_rate"])
        w = weight(out_channels, x.shape[1] // groups, *sp["kernel_size"])
        return F.conv2d(x, w, stride=sp["strides"], dilation=sp["dilation_rate"], groups=groups)

    def transpose(x, sp):
        pads, extra = [], []
        for k, s, d, p in zip(sp["kernel_size"], sp["strides"], sp["dilation_rate"],
                              sp["output_padding"] or (None, None), strict=True):
            span = d * (k - 1) + 1
            if p is not None:     # Keras: (n-1)*s + K - 2*pad + p
                pads.append(0 if sp["padding"] == "valid" else span // 2)
                extra.append(p)
            elif sp["padding"] == "valid":   # n*s + max(K - s, 0)
                pads.append(0)
                extra.append(max(s - span, 0))
            else:                            # n*s
                pad = max(-(-(span - s) // 2), 0)
                pads.append(pad)
                extra.append(2 * pad - (span - s))
        w = weight(x.shape[1], sp["filters"], *sp["kernel_size"])
        return F.conv_transpose2d(x, w, stride=sp["strides"], padding=tuple(pads),
                                  output_padding=tuple(extra), dilation=sp["dilation_rate"])

    def step(x, sp):
        kind = sp["kind"]
        if kind == "conv":
            return conv(x, sp, sp["filters"], 1)
        if kind == "depthwise_conv":
            return conv(x, sp, x.shape[1] * sp["depth_multiplier"], x.shape[1])
        if kind == "separable_conv":
            x = conv(x, sp, x.shape[1] * sp["depth_multiplier"], x.shape[1])
            return F.conv2d(x, weight(sp["filters"], x.shape[1], 1, 1))
        if kind == "conv_transpose":
            return transpose(x, sp)
        if kind == "upsampling":
            return F.interpolate(x, scale_factor=sp["size"], mode="nearest")
        if kind == "zero_padding":
            (t, b), (left, r) = sp["padding"]
            return F.pad(x, (left, r, t, b))
        if kind == "cropping":
            (t, b), (left, r) = sp["cropping"]
            return x[:, :, t:x.shape[2] - b, left:x.shape[3] - r]
        if kind == "dense":          # Keras Dense on the channels axis
            return F.conv2d(x, weight(sp["units"], x.shape[1], 1, 1))
        if kind == "spatial_dropout":
            return F.dropout2d(x, 0.1, training=False)
        return F.relu(x)

    def run():
        x = torch.empty((1, shape[3], shape[1], shape[2]), device=meta)
        for sp in specs:
            x = step(x, sp)
        return (None, *x.shape[2:], x.shape[1])

    return run


def torch_meta(specs, shape):
    """(median ms, output shape) of the chain by PyTorch meta tensors; None without torch."""
    try:
        run = _torch_run(specs, shape)
    except ImportError:
        return None
    out = run()
    return _median_ms(run, runs=10), out


def _line(label, ms, target=None):
    verdict = ""
    if target is not None:
        verdict = f"   target < {target:g} ms  {'ok' if ms < target else 'MISSED'}"
    print(f"{label:<58} {ms:8.2f} ms{verdict}")


def main(argv=None) -> int:
    from cthulhu import shapes

    (warm, numpy), (cold, _) = import_times()
    _line("import cthulhu.shapes (fresh interpreter, bytecode cached)", warm, 50)
    _line("import cthulhu.shapes (no bytecode cache)", cold)
    print(f"import cthulhu.shapes imports NumPy: {'YES (it must not)' if numpy else 'no'}")
    (distinct, start), (specs, shape), t = chain_times()
    n = len(distinct)
    print(f"-- {n} distinct layers, input {start}")
    _line("shapes of every layer", t["distinct"], 5)
    _line("shapes + receptive field/jump/offset/halo", t["analysis"])
    _line("shapes on symbolic sizes (b, h, w, 8)", t["symbolic"])
    peer = torch_meta(distinct, start)
    if peer is not None:
        ours = shapes.chain(distinct, start).output_shape
        agree = "same output shape" if tuple(peer[1]) == ours else \
            f"OUTPUT SHAPES DIFFER: torch {peer[1]} vs {ours}"
        _line("peer: PyTorch meta tensors, same chain", peer[0])
        print(f"   ratio torch/cthulhu = {peer[0] / t['distinct']:.1f}x ({agree})")
    print(f"-- {len(specs)} layers: a 5-layer block repeated, input {shape}")
    _line("shapes of every layer", t["first"], 5)
    _line("shapes + receptive field/jump/offset/halo", t["block_analysis"])
    peer = torch_meta(specs, shape)
    if peer is not None:
        _line("peer: PyTorch meta tensors, same chain", peer[0])
        print(f"   ratio torch/cthulhu = {peer[0] / t['first']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
