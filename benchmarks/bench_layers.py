"""Per-call overhead of a layer above its raw NumPy math (issue #3: batch-1 ``Daoloth(128)``).

``python -m benchmarks.bench_layers`` (or ``main()``) times, for ``x`` of shape
``(1, 512)`` float32 and a built ``Daoloth(128)`` with kernel ``k`` and bias
``b`` (the layer's own weights, as NumPy arrays):

* ``raw``: ``x @ k + b``, the math alone;
* ``ops.matmul(x, k, bias=b)``: the op front-end, registry and NumPy plugin;
* ``layer(x)``: the whole layer call (input checks, weights, op);
* the same with ``activation="relu"`` (raw: ``np.maximum(x @ k + b, 0)``);
* PyTorch CPU's ``torch.nn.Linear(512, 128)`` call on the same input (when torch is
  installed), the peer of issue 11's target: a ``Daoloth(128)`` call within 1.2x of it.

Each is ``timeit`` best of ``CTHULHU_BENCH_REPEAT`` (default 7) loops of
``CTHULHU_BENCH_NUMBER`` (default 20000) calls, the variants interleaved so that
load from elsewhere hits them alike. The overhead is ``layer - raw`` of the best
times (target: at most 20 microseconds). Both libraries run single-threaded here (a
batch-1 call uses one core either way).
"""

from __future__ import annotations

import os
import sys
import timeit

import numpy as np


def _best_us(funcs, repeat, number):
    """Best per-call microseconds of each function, interleaved ``repeat`` times."""
    best = dict.fromkeys(funcs, float("inf"))
    for func in funcs.values():
        func()
    for _ in range(repeat):
        for name, func in funcs.items():
            seconds = timeit.timeit(func, number=number)
            best[name] = min(best[name], seconds / number * 1e6)
    return best


def measure(repeat=7, number=20000, in_dim=512, units=128):
    """``{name: best microseconds per call}`` for the raw math, the op and the layer calls."""
    from cthulhu import ops
    from cthulhu.layers import Daoloth

    x = np.random.default_rng(0).standard_normal((1, in_dim), dtype=np.float32)
    dense = Daoloth(units)
    dense_relu = Daoloth(units, activation="relu")
    dense(x)
    dense_relu(x)
    k, b = dense.get_weight("kernel"), dense.get_weight("bias")
    kr, br = dense_relu.get_weight("kernel"), dense_relu.get_weight("bias")
    funcs = {
        "raw": lambda: x @ k + b,
        "op": lambda: ops.matmul(x, k, bias=b),
        "layer": lambda: dense(x),
        "raw_relu": lambda: np.maximum(x @ kr + br, 0),
        "layer_relu": lambda: dense_relu(x),
    }
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        linear = torch.nn.Linear(in_dim, units)
        tx = torch.from_numpy(x)
        funcs["torch"] = lambda: linear(tx)
    if torch is None:
        return _best_us(funcs, repeat, number)
    with torch.inference_mode():
        return _best_us(funcs, repeat, number)


def main(argv=None) -> int:
    repeat = int(os.environ.get("CTHULHU_BENCH_REPEAT", "7"))
    number = int(os.environ.get("CTHULHU_BENCH_NUMBER", "20000"))
    t = measure(repeat, number)
    print(f"# batch-1 Daoloth(128) on x (1, 512) float32, NumPy {np.__version__}; "
          f"timeit best of {repeat} x {number} calls, microseconds per call "
          "(target: layer - raw <= 20 us)")
    print(f"{'call':34s} {'us':>7s} {'above raw':>10s}")
    rows = [("raw x @ k + b", t["raw"], t["raw"]),
            ("ops.matmul(x, k, bias=b)", t["op"], t["raw"]),
            ("Daoloth(128)(x)", t["layer"], t["raw"]),
            ("raw maximum(x @ k + b, 0)", t["raw_relu"], t["raw_relu"]),
            ("Daoloth(128, 'relu')(x)", t["layer_relu"], t["raw_relu"])]
    for name, value, base in rows:
        print(f"{name:34s} {value:7.2f} {value - base:10.2f}")
    if "torch" in t:
        print(f"{'torch.nn.Linear(512, 128)(x)':34s} {t['torch']:7.2f}")
    print(f"# Daoloth(128) overhead {t['layer'] - t['raw']:.2f} us "
          f"(relu: {t['layer_relu'] - t['raw_relu']:.2f} us)")
    if "torch" in t:
        print(f"# Daoloth(128) / torch Linear: {t['layer'] / t['torch']:.2f} (target <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
