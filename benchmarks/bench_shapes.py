"""Speed of the shape algebra: ``import cthulhu.shapes`` and the shapes of a 1,000-layer chain.

``python -m benchmarks shapes`` prints:

* the import time of ``cthulhu.shapes`` in a fresh interpreter (median of
  several), with the bytecode cache a normal install has, and without any
  (every module compiled from source, as under ``PYTHONDONTWRITEBYTECODE=1``
  in a fresh checkout). Target: < 50 ms with the cache.
* the shapes of a 1,000-layer 2D chain (blocks of conv 3x3 'same', activation,
  strided conv, up-sampling, dropout): first call (memo cleared) and repeated
  calls. Target: < 5 ms. Also a 1,000-layer chain of *distinct* layers (no
  memo hit possible: the cost of the validating whole-layer functions), the
  full spatial analysis (receptive field, jump, halo), and the chain on
  symbolic sizes.
* the peer: PyTorch computing the same chain's shapes with meta tensors
  (no data), when torch is installed.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

_IMPORT = "import time; t = time.perf_counter(); import cthulhu.shapes; " \
          "print(time.perf_counter() - t)"


def _import_ms(env, runs=7):
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _IMPORT], env=env, capture_output=True,
                             text=True, check=True)
        times.append(float(out.stdout.strip()) * 1e3)
    return statistics.median(times)


def import_times():
    """(with bytecode cache, without) import times in ms, each in fresh interpreters."""
    with tempfile.TemporaryDirectory() as cached, tempfile.TemporaryDirectory() as empty:
        env = dict(os.environ, PYTHONPYCACHEPREFIX=cached)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-c", "import cthulhu.shapes"], env=env, check=True)
        warm = _import_ms(env)
        env = dict(os.environ, PYTHONPYCACHEPREFIX=empty, PYTHONDONTWRITEBYTECODE="1")
        cold = _import_ms(env)
    return warm, cold


def _median_ms(func, runs=30, before=None):
    times = []
    for _ in range(runs):
        if before is not None:
            before()
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


def _distinct_specs(n):
    from cthulhu.shapes import spec_from_config as spec

    return [spec("Cthalpa2D", {"filters": i + 1, "kernel_size": 1 + i % 3, "padding": "same"})
            for i in range(n)]


def chain_times(layers=1000):
    from cthulhu import shapes
    from cthulhu.shapes.chain import clear_cache

    block = _block_specs()
    specs = block * (layers // len(block))
    shape = (None, 64, 64, 8)
    first = _median_ms(lambda: shapes.chain(specs, shape), before=clear_cache)
    again = _median_ms(lambda: shapes.chain(specs, shape))
    distinct = _distinct_specs(layers)
    cold = _median_ms(lambda: shapes.chain(distinct, shape), runs=10, before=clear_cache)
    analysis = _median_ms(lambda: shapes.chain(specs, shape).axes, runs=10, before=clear_cache)
    symbolic = _median_ms(lambda: shapes.chain(specs, shapes.symbolic("b, h, w, 8")), runs=5)
    return specs, shape, {"first": first, "again": again, "distinct": cold,
                          "analysis": analysis, "symbolic": symbolic}


def torch_meta_ms(specs, shape):
    """The same chain's shapes by PyTorch on the meta device (no data); None without torch."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    meta = torch.device("meta")
    weights = {}

    def run():
        x = torch.empty((1, shape[3], shape[1], shape[2]), device=meta)
        for spec in specs:
            kind = spec["kind"]
            if kind == "conv":
                key = (spec["filters"], x.shape[1], spec["kernel_size"])
                w = weights.get(key)
                if w is None:
                    w = weights[key] = torch.empty((key[0], key[1], *key[2]), device=meta)
                x = F.conv2d(x, w, stride=spec["strides"], padding=1)
            elif kind == "upsampling":
                x = F.interpolate(x, scale_factor=spec["size"], mode="nearest")
            else:
                x = F.relu(x)
        return x.shape

    run()
    return _median_ms(run, runs=10)


def main(argv=None) -> int:
    warm, cold = import_times()
    print(f"import cthulhu.shapes (fresh interpreter, bytecode cached): {warm:6.1f} ms"
          f"   target < 50 ms  {'ok' if warm < 50 else 'MISSED'}")
    print(f"import cthulhu.shapes (no bytecode cache, compiled from source): {cold:6.1f} ms")
    specs, shape, t = chain_times()
    n = len(specs)
    print(f"chain of {n} layers, shapes, first call (memo cleared): {t['first']:7.2f} ms"
          f"   target < 5 ms  {'ok' if t['first'] < 5 else 'MISSED'}")
    print(f"chain of {n} layers, shapes, repeated call:             {t['again']:7.2f} ms")
    print(f"chain of {n} distinct layers (no memo hit), shapes:     {t['distinct']:7.2f} ms")
    print(f"chain of {n} layers, shapes + receptive field/halo:     {t['analysis']:7.2f} ms")
    print(f"chain of {n} layers on symbolic sizes (b, h, w, 8):     {t['symbolic']:7.2f} ms")
    peer = torch_meta_ms(specs, shape)
    if peer is not None:
        print(f"peer: PyTorch meta tensors, same chain's shapes:        {peer:7.2f} ms"
              f"   ratio torch/cthulhu (first call) = {peer / t['first']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
