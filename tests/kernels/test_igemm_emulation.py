"""igemm.cu (the fast convolution: strict float32 on FMA units; tf32, bf16 and f16 on
tensor cores through mma.sync) in the CPU emulation, against plain-loop references that
round the operands exactly as the PTX conversions do, for Hypothesis-drawn convolutions
(partial M, N and K tiles, strides, dilation, pads, transposed phases, both output
layouts, every epilogue) under forward, reverse and shuffled thread schedules.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from cthulhu.devices.cupy_ import _igemm, _launch
from tests.support import kernel_refs as ref

COMPUTES = tuple(_igemm.COMPUTES)
ACTIVATIONS = (None, "relu", "relu6", "leaky_relu", "sigmoid", "tanh")


def storage(compute, a):
    """``a`` as the kernel stores it, and the values the tensor cores multiply."""
    a = np.asarray(a, np.float32)
    if compute == "bf16":
        bits = ref.bf16_bits(a)
        return bits, ref.bf16_value(bits).astype(np.float64)
    if compute == "f16":
        h = a.astype(np.float16)
        return h, h.astype(np.float64)
    if compute == "tf32":
        return a, ref.round_tf32(a).astype(np.float64)
    return a, a.astype(np.float64)


def gemm_weights(w, transposed, cp_, fp):
    """The host's weight matrix: (taps, Cp, Fp), zero-padded; a transposed kernel
    (*k, F, C) flipped over its taps and swapped to (tap, C, F)."""
    taps = int(np.prod(w.shape[:-2]))
    if transposed:
        f, c = w.shape[-2:]
        m = w.reshape(taps, f, c)[::-1].transpose(0, 2, 1)
    else:
        c, f = w.shape[-2:]
        m = w.reshape(taps, c, f)
    out = np.zeros((taps, cp_, fp), w.dtype)
    out[:, :c, :f] = m
    return np.ascontiguousarray(out)


@st.composite
def cases(draw, transposed=None):
    transposed = draw(st.booleans()) if transposed is None else transposed
    rank = draw(st.integers(1, 3))
    compute = draw(st.sampled_from(COMPUTES))
    vec = 16 // _igemm.ITEMSIZE[compute]
    limit = {1: 40, 2: 7, 3: 4}[rank]
    case = {
        "compute": compute,
        "transposed": transposed,
        "rank": rank,
        "batch": draw(st.integers(1, 2)),
        "spatial": tuple(draw(st.integers(1, limit)) for _ in range(rank)),
        "kernel": tuple(draw(st.integers(1, 3)) for _ in range(rank)),
        "strides": tuple(draw(st.integers(1, 2)) for _ in range(rank)),
        "dilation": tuple(draw(st.integers(1, 2)) for _ in range(rank)),
        "channels": vec * draw(st.sampled_from([1, 2, 3, 9])),
        "filters": draw(st.sampled_from([1, 3, 8, 17, 40])),
        "tile": draw(st.sampled_from(sorted(_igemm.TILES[_igemm.family(compute)]))),
        "layout": draw(st.sampled_from(["channels_last", "channels_first"])),
        "epilogue": draw(st.sampled_from(["none", "bias", "all"])),
        "activation": draw(st.sampled_from(ACTIVATIONS)),
        "schedule": draw(st.sampled_from(["forward", "reverse", "shuffle"])),
        "seed": draw(st.integers(0, 2**16)),
    }
    if transposed:
        case["dilation"] = tuple(1 if s > 1 else d
                                 for s, d in zip(case["strides"], case["dilation"], strict=True))
    lo_min = -1 if transposed else 0
    case["pads"] = tuple((draw(st.integers(lo_min, 2)), draw(st.integers(lo_min, 2)))
                         for _ in range(rank))
    return case


def out_spatial(case):
    out = []
    for n, k, s, d, (lo, hi) in zip(case["spatial"], case["kernel"], case["strides"],
                                    case["dilation"], case["pads"], strict=True):
        span = d * (k - 1) + 1
        if case["transposed"]:
            out.append((n - 1) * s + 1 + lo + hi - span + 1)
        else:
            out.append((n + lo + hi - span) // s + 1 if n + lo + hi >= span else 0)
    return tuple(out)


def run_case(emulator, case, drawn=True):
    """Runs one case on the emulated kernel; returns (got, expected, terms)."""
    rng = np.random.default_rng(case["seed"])
    compute, transposed = case["compute"], case["transposed"]
    c, f = case["channels"], case["filters"]
    osp = out_spatial(case)
    if drawn:
        assume(all(o >= 1 for o in osp))
    x = rng.standard_normal((case["batch"], *case["spatial"], c)).astype(np.float32)
    wshape = (*case["kernel"], f, c) if transposed else (*case["kernel"], c, f)
    w = rng.standard_normal(wshape).astype(np.float32)
    out_dtype = np.float16 if compute == "f16" else np.float32
    epi = {}
    flags = 0
    if case["epilogue"] in ("bias", "all"):
        epi["bias"] = rng.standard_normal(f).astype(out_dtype)
        flags |= _launch.EPI_BIAS
    if case["epilogue"] == "all":
        epi["scale"] = rng.uniform(0.5, 2, f).astype(out_dtype)
        epi["shift"] = rng.standard_normal(f).astype(out_dtype)
        flags |= _launch.EPI_SCALE | _launch.EPI_SHIFT
    xs, xv = storage(compute, x)
    ws, wv = storage(compute, w)
    reference = ref.conv_transpose if transposed else ref.conv
    y64 = reference(xv, wv, case["strides"], case["dilation"], case["pads"])
    assert y64.shape[1:-1] == osp
    expected = ref.epilogue(y64, *(None if k not in epi else epi[k].astype(np.float64)
                                   for k in ("bias", "scale", "shift")),
                            activation=case["activation"], alpha=0.2)
    launch = _igemm.launch(
        compute=compute, transposed=transposed, out_layout=case["layout"],
        batch=case["batch"], channels=c, filters=f, in_spatial=case["spatial"],
        out_spatial=osp, kernel=case["kernel"], strides=case["strides"],
        dilation=case["dilation"], pads_lo=[p[0] for p in case["pads"]], flags=flags,
        activation=case["activation"], alpha=0.2, tile=case["tile"])
    cp_, fp = launch.args[5], launch.args[10]
    wm = gemm_weights(ws, transposed, cp_, fp)
    y = np.full((case["batch"], *osp, f), np.nan, out_dtype)
    if case["layout"] == "channels_first":
        y = ref.to_first(y)
    dummy = np.zeros(1, out_dtype)
    args = [np.ascontiguousarray(xs), wm, epi.get("bias", dummy), epi.get("scale", dummy),
            epi.get("shift", dummy), y, *launch.args[:-1], np.float32(launch.args[-1])]
    emulator.launch(launch.name, launch.grid, launch.block, args,
                    shared_bytes=launch.shared_bytes, schedule=case["schedule"],
                    seed=case["seed"])
    got = y if case["layout"] == "channels_last" else ref.to_last(y)
    return got.astype(np.float64), expected, c * int(np.prod(case["kernel"]))


def check(got, expected, compute, terms):
    """Only float32 accumulation order (and the float16 store) separates the kernel
    from the reference, whose operands are already rounded like the kernel's."""
    assert not np.isnan(got).any(), "unwritten or poisoned outputs"
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    atol = 4e-7 * max(4.0, terms) ** 0.5 * scale
    rtol = 1e-3 if compute == "f16" else 0
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


BASE = {"compute": "tf32", "transposed": False, "rank": 2, "batch": 2, "spatial": (5, 6),
        "kernel": (3, 3), "strides": (1, 1), "dilation": (1, 1), "channels": 8, "filters": 5,
        "pads": ((1, 1), (1, 1)), "tile": "128x32", "layout": "channels_last",
        "epilogue": "all", "activation": "relu", "schedule": "forward", "seed": 1}


@settings(max_examples=40, deadline=None)
@given(case=cases())
# two row blocks (M = 2 * 10 * 10 = 200), a partial K slice (C = 36 of 64), 40 filters
@example(case={**BASE, "spatial": (10, 10), "channels": 36, "filters": 40})
@example(case={**BASE, "compute": "f16", "tile": "128x16", "layout": "channels_first",
               "filters": 17, "channels": 24, "schedule": "reverse"})
@example(case={**BASE, "compute": "bf16", "tile": "128x64", "activation": "tanh",
               "channels": 16, "filters": 64, "schedule": "shuffle"})
@example(case={**BASE, "compute": "strict", "tile": "128x128", "filters": 130,
               "channels": 12, "activation": "leaky_relu"})
@example(case={**BASE, "compute": "strict", "tile": "128x16", "rank": 3,
               "spatial": (3, 4, 5), "kernel": (2, 3, 2), "strides": (2, 1, 2),
               "dilation": (1, 2, 1), "pads": ((0, 1), (2, 2), (1, 0)), "filters": 3,
               "layout": "channels_first"})
@example(case={**BASE, "transposed": True, "strides": (2, 2), "pads": ((2, 3), (2, 3)),
               "tile": "128x128", "activation": "sigmoid"})
@example(case={**BASE, "transposed": True, "compute": "strict", "strides": (2, 1),
               "kernel": (1, 3), "pads": ((-1, 1), (1, 0)), "tile": "128x64"})
def test_igemm_matches_rounded_loops(emulator, case):
    got, expected, terms = run_case(emulator, case)
    check(got, expected, case["compute"], terms)
