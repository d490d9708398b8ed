"""The halo claim, checked for real: blockwise == whole-array, with NumPy references.

Each layer has a whole-array reference written here from its definition
(TensorFlow/Keras padding rules, the transposed convolution as a scatter-add,
nearest up-sampling as repetition), independent of ``cthulhu.shapes``. The
block runner uses only what :meth:`Chain.block_plan` says: the input slice,
and per layer the explicit padding. Single-channel arrays without batch axis
keep the references short; channels do not change the spatial reasoning.
"""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from cthulhu import shapes

# ------------------------------------------------------------- references


def _same_lo(n, K, s):
    """TensorFlow 'same': total = max((ceil(n/s) - 1)*s + K - n, 0), the odd extra at the end."""
    total = max((-(-n // s) - 1) * s + K - n, 0)
    return total // 2, total - total // 2


def conv_valid(x, w, strides, dilation):
    """Cross-correlation without padding, by summing shifted strided slices (one per tap)."""
    K = [d * (k - 1) + 1 for k, d in zip(w.shape, dilation, strict=True)]
    out_shape = [(n - k) // s + 1 for n, k, s in zip(x.shape, K, strides, strict=True)]
    out = np.zeros(out_shape)
    for tap in itertools.product(*(range(k) for k in w.shape)):
        index = tuple(slice(t * d, t * d + (m - 1) * s + 1, s)
                      for t, d, m, s in zip(tap, dilation, out_shape, strides, strict=True))
        out += w[tap] * x[index]
    return out


def conv_whole(x, w, strides, dilation, padding):
    pads = []
    for n, k, s, d in zip(x.shape, w.shape, strides, dilation, strict=True):
        K = d * (k - 1) + 1
        pads.append({"valid": (0, 0), "same": _same_lo(n, K, s), "causal": (K - 1, 0)}[padding])
    return conv_valid(np.pad(x, pads), w, strides, dilation)


def transpose_length(n, k, s, d, padding, op):
    """Keras 2 ``deconv_length``."""
    K = d * (k - 1) + 1
    if op is None:
        return n * s + max(K - s, 0) if padding == "valid" else n * s
    pad = 0 if padding == "valid" else K // 2
    return (n - 1) * s + K - 2 * pad + op


def conv_transpose_whole(x, w, strides, dilation, padding, output_padding):
    """The gradient of the forward convolution (TensorFlow's conv_transpose): a scatter-add.

    Input sample ``i`` and tap ``t`` land on output ``i*s + t*d - P``, ``P`` the
    before-padding of the forward convolution of the output length.
    """
    ops = output_padding or (None,) * x.ndim
    lengths, before = [], []
    for n, k, s, d, op in zip(x.shape, w.shape, strides, dilation, ops, strict=True):
        m = transpose_length(n, k, s, d, padding, op)
        lengths.append(m)
        before.append(0 if padding == "valid" else _same_lo(m, d * (k - 1) + 1, s)[0])
    out = np.zeros(lengths)
    for tap in itertools.product(*(range(k) for k in w.shape)):
        src, dst = [], []
        for t, d, s, P, m, n in zip(tap, dilation, strides, before, lengths, x.shape,
                                    strict=True):
            shift = t * d - P       # output = i*s + shift, kept when 0 <= output < m
            i0 = max(0, -(shift // s))     # smallest i with i*s + shift >= 0
            i1 = min(n, (m - 1 - shift) // s + 1)
            if i1 <= i0:
                break
            src.append(slice(i0, i1))
            dst.append(slice(i0 * s + shift, (i1 - 1) * s + shift + 1, s))
        else:
            out[tuple(dst)] += w[tap] * x[tuple(src)]
    return out


def upsample(x, size):
    for axis, u in enumerate(size):
        x = np.repeat(x, u, axis=axis)
    return x


def bilinear(x, size):
    """TensorFlow 2 'bilinear' resize by integer factors: half-pixel centres, ends clamped.

    Axis by axis: output o takes input position (o + 0.5)/u - 0.5 and mixes the
    samples at its floor and the next one (both clamped into the axis).
    """
    for axis, u in enumerate(size):
        n = x.shape[axis]
        src = (np.arange(n * u) + 0.5) / u - 0.5
        low = np.floor(src)
        frac = (src - low).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
        low = low.astype(int)
        a = np.take(x, np.clip(low, 0, n - 1), axis=axis)
        b = np.take(x, np.clip(low + 1, 0, n - 1), axis=axis)
        x = a * (1 - frac) + b * frac
    return x


def resize(layer, x):
    if layer.get("interpolation") == "bilinear":
        return bilinear(x, layer["size"])
    return upsample(x, layer["size"])


def pointwise(x):
    # Not zero at zero: padding a layer's output instead of its input would show.
    return 0.5 * x + 1.0


def whole(layer, x, w):
    kind = layer["kind"]
    if kind == "conv":
        return conv_whole(x, w, layer["strides"], layer["dilation_rate"], layer["padding"])
    if kind == "conv_transpose":
        return conv_transpose_whole(x, w, layer["strides"], layer["dilation_rate"],
                                    layer["padding"], layer.get("output_padding"))
    if kind == "upsampling":
        return resize(layer, x)
    if kind == "cropping":
        return x[tuple(slice(lo, n - hi) for (lo, hi), n in zip(layer["cropping"], x.shape,
                                                                 strict=True))]
    if kind == "zero_padding":
        return np.pad(x, layer["padding"])
    return pointwise(x)


# ----------------------------------------------------------- block runner


def _pad_or_crop(x, pads):
    """Pad with zeros (positive) or crop (negative), per axis."""
    x = np.pad(x, [(max(lo, 0), max(hi, 0)) for lo, hi in pads])
    return x[tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(pads, x.shape,
                                                                               strict=True))]


def block_layer(lb, x, w):
    """One layer on a block, told only by the LayerBlock what to pad."""
    layer, pads = lb.spec, lb.pads
    kind = layer["kind"]
    if kind == "conv":
        return conv_valid(np.pad(x, pads), w, layer["strides"], layer["dilation_rate"])
    if kind == "conv_transpose":
        # the equivalent direct convolution: zero insertion, explicit padding, flipped kernel
        s = layer["strides"]
        z = np.zeros([(n - 1) * st + 1 if n else 0 for n, st in zip(x.shape, s, strict=True)])
        z[tuple(slice(None, None, st) for st in s)] = x
        flipped = w[tuple(slice(None, None, -1) for _ in w.shape)]
        return conv_valid(_pad_or_crop(z, pads), flipped, (1,) * x.ndim, layer["dilation_rate"])
    if kind == "upsampling":
        y = resize(layer, x)
        crops = [(-(u - 1 - lo), -(u - 1 - hi)) for u, (lo, hi) in zip(layer["size"], pads,
                                                                      strict=True)]
        return _pad_or_crop(y, crops)
    if kind in ("cropping", "zero_padding"):
        return np.pad(x, pads)
    assert all(p == (0, 0) for p in pads)
    return pointwise(x)


def run_block(plan, x, weights):
    y = x[tuple(slice(a, b) for a, b in plan.input_range)]
    for lb, w in zip(plan.layers, weights, strict=True):
        assert y.shape == tuple(b - a for a, b in lb.in_range)
        out_shape = tuple(b - a for a, b in lb.out_range)
        if 0 in out_shape:   # an empty block: nothing to compute
            y = np.zeros(out_shape)
            continue
        y = block_layer(lb, y, w)
        assert y.shape == tuple(b - a for a, b in lb.out_range), (lb, y.shape)
    return y


def core_layer(lb, x, w):
    """One layer on a block in core form: zeros around the slice, the 'valid' layer, keep."""
    layer = lb.spec
    kind = layer["kind"]
    assert all(lo >= 0 and hi >= 0 for lo, hi in lb.zeros)
    x = np.pad(x, lb.zeros)
    if kind == "conv":
        y = conv_valid(x, w, layer["strides"], layer["dilation_rate"])
    elif kind == "conv_transpose":
        y = conv_transpose_whole(x, w, layer["strides"], layer["dilation_rate"], "valid", None)
    elif kind == "upsampling":
        y = resize(layer, x)
    elif kind in ("cropping", "zero_padding"):
        y = x
    else:
        assert lb.zeros == ((0, 0),) * x.ndim
        y = pointwise(x)
    assert all(0 <= a <= b <= n for (a, b), n in zip(lb.keep, y.shape, strict=True)), (lb, y.shape)
    return y[tuple(slice(a, b) for a, b in lb.keep)]


def run_block_core(plan, x, weights):
    """The block the way the Dask device runs it: core forms, no empty arrays computed."""
    first = plan.from_zeros
    if first is None:
        first, y = 0, x[tuple(slice(a, b) for a, b in plan.input_range)]
    else:
        # only zeros lie under the block at this layer's input: the earlier layers never run
        assert any(b <= a for a, b in plan.layers[first].in_range)
        y = np.zeros([b - a for a, b in plan.layers[first].in_range])
    for lb, w in zip(plan.layers[first:], weights[first:], strict=True):
        assert y.shape == tuple(b - a for a, b in lb.in_range)
        y = core_layer(lb, y, w)
        assert y.shape == tuple(b - a for a, b in lb.out_range), (lb, y.shape)
    return y


# ------------------------------------------------------------- strategies

_MAX_N = {1: 24, 2: 10, 3: 6}
# Chains that shrink an axis to nothing are rejected by assume(); that is expected here.
_RELAXED = [HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large]


@st.composite
def layer_specs(draw, rank, allow_crop=True, allow_bilinear=True):
    kinds = ["conv", "conv", "conv_transpose", "upsampling", "zero_padding", "pointwise"]
    if allow_crop:
        kinds.append("cropping")
    kind = draw(st.sampled_from(kinds))
    base = {"kind": kind, "rank": rank, "data_format": "channels_last"}
    per_axis = lambda s: tuple(draw(s) for _ in range(rank))  # noqa: E731
    if kind in ("conv", "conv_transpose"):
        kernel = per_axis(st.integers(1 if kind == "conv" else 2, 4))
        dilated = kind == "conv" or rank < 3
        if draw(st.booleans()) or not dilated:
            strides, dilation = per_axis(st.integers(1, 3)), (1,) * rank
        else:
            strides, dilation = (1,) * rank, per_axis(st.integers(1, 3))
        paddings = ["valid", "same"] + (["causal"] if rank == 1 and kind == "conv" else [])
        padding = draw(st.sampled_from(paddings))
        base.update(filters=1, kernel_size=kernel, strides=strides, dilation_rate=dilation,
                    padding=padding)
        if kind == "conv_transpose" and draw(st.booleans()):
            ops = tuple(draw(st.integers(0, s - 1)) for s in strides)
            # TensorFlow rejects 'same' with an even dilated kernel and output_padding 0
            if padding == "same" and any(
                    (d * (k - 1) + 1) % 2 == 0 and p == 0
                    for k, d, p in zip(kernel, dilation, ops, strict=True)):
                ops = None
            base["output_padding"] = ops
        return base
    if kind == "upsampling":
        base["size"] = per_axis(st.integers(1, 3))
        base["interpolation"] = draw(st.sampled_from(
            ["nearest", "bilinear"] if allow_bilinear else ["nearest"]))
    elif kind == "cropping":
        base["cropping"] = per_axis(st.tuples(st.integers(0, 2), st.integers(0, 2)))
    elif kind == "zero_padding":
        base["padding"] = per_axis(st.tuples(st.integers(0, 2), st.integers(0, 2)))
    return base


@st.composite
def chains(draw, rank, allow_crop=True, allow_bilinear=True):
    layers = draw(st.lists(layer_specs(rank, allow_crop, allow_bilinear), min_size=1,
                           max_size=4))
    size = tuple(draw(st.integers(1, _MAX_N[rank])) for _ in range(rank))
    try:
        c = shapes.chain(layers, (1, *size, 1))
    except shapes.ShapeError:
        assume(False)
    out = c.output_shape[1:-1]
    assume(all(0 < n <= 4 * _MAX_N[rank] for n in out))
    assume(all(np.prod(s[1:-1]) <= 4000 for s in c.output_shapes))
    return layers, size, c


def _weights(layers, rng):
    return [rng.uniform(0.5, 1.5, size=layer["kernel_size"])
            if layer["kind"] in ("conv", "conv_transpose") else None for layer in layers]


def _whole(layers, x, weights):
    y = x
    for layer, w in zip(layers, weights, strict=True):
        y = whole(layer, y, w)
    return y


# ----------------------------------------------------------------- tests


def _check_blockwise(layers, size, c, block, data):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=size)
    weights = _weights(layers, rng)
    y = _whole(layers, x, weights)
    assert y.shape == tuple(c.output_shape[1:-1])       # the shape algebra agrees too
    blocks = c.output_blocks(block)
    if data is not None:   # plus one unaligned block anywhere
        start = tuple(data.draw(st.integers(0, n - 1)) for n in y.shape)
        stop = tuple(data.draw(st.integers(a + 1, n)) for a, n in zip(start, y.shape, strict=True))
        blocks.append((start, stop))
    for start, stop in blocks:
        plan = c.block_plan(start, stop)
        got = run_block(plan, x, weights)
        want = y[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        got = run_block_core(plan, x, weights)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    return x, weights, y, blocks


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=150, suppress_health_check=_RELAXED)
@given(data=st.data())
def test_halo_blockwise_equals_whole(rank, data):
    layers, size, c = data.draw(chains(rank))
    block = tuple(data.draw(st.integers(1, 6)) for _ in range(rank))
    _check_blockwise(layers, size, c, block, data)


@settings(max_examples=200, suppress_health_check=_RELAXED)
@given(data=st.data())
def test_halo_bounds_and_tightness_1d(data):
    """Aligned blocks read at most ``halo`` around their core, and exactly that inside.

    Tightness: with positive weights and an increasing position-wise map, raising
    the first (last) input sample of an interior block's range changes the block.
    Cropping is left out: its unclipped range can reach into data it crops away;
    so is bilinear up-sampling, whose range keeps a sample of margin for the
    rounding of its interpolation positions.
    """
    layers, size, c = data.draw(chains(1, allow_crop=False, allow_bilinear=False))
    (n_in,) = size
    (axis,) = c.axes
    lo, hi = axis.halo
    jump = axis.jump
    block = data.draw(st.integers(1, 8))
    x, weights, y, blocks = _check_blockwise(layers, size, c, (block,), None)
    for (a,), (b,) in blocks:
        (start, stop), = c.block_plan((a,), (b,)).input_range
        assert a % axis.output_block_multiple == 0
        if start == stop:    # the block is all padding: it reads nothing
            continue
        b_up = -(-b // axis.output_block_multiple) * axis.output_block_multiple
        core0, core1 = a * jump, b_up * jump
        assert core0.denominator == core1.denominator == 1
        assert start >= core0 - lo and stop <= core1 + hi
        interior = b == b_up and core0 - lo >= 0 and core1 + hi <= n_in
        if not interior:
            continue
        event("interior block checked for tightness")
        assert (start, stop) == (core0 - lo, core1 + hi)
        for i in (start, stop - 1):
            bumped = x.copy()
            bumped[i] += 1.0
            changed = _whole(layers, bumped, weights)[a:b]
            assert np.any(changed > y[a:b] + 1e-9), f"sample {i} does not reach [{a}, {b})"
        for i in (start - 1, stop):
            if 0 <= i < n_in:
                bumped = x.copy()
                bumped[i] += 1.0
                np.testing.assert_allclose(_whole(layers, bumped, weights)[a:b], y[a:b])


def test_halo_known_values():
    conv = {"kind": "conv", "rank": 1, "filters": 1, "kernel_size": 3, "padding": "same",
            "data_format": "channels_last"}
    c = shapes.chain([conv, conv], (1, 20, 1))
    assert c.halo == ((2, 2),) and c.receptive_field == (5,) and c.offset == (-2,)
    down = {**conv, "strides": 2, "padding": "valid"}
    c = shapes.chain([down, conv], (1, 21, 1))
    assert c.jump == (2,) and c.receptive_field == (7,) and c.block_multiple == (2,)
    up = {"kind": "upsampling", "rank": 1, "size": 2}
    c = shapes.chain([down, up], (1, 21, 1))
    assert c.jump == (1,) and c.output_block_multiple == (2,) and c.block_multiple == (2,)


def test_halo_unknown_with_symbolic_strided_same():
    conv = {"kind": "conv", "rank": 1, "filters": 1, "kernel_size": 3, "strides": 2,
            "padding": "same", "data_format": "channels_last"}
    c = shapes.chain([conv], shapes.symbolic("b, n, 1"))
    assert c.halo == (None,) and c.offset == (None,)
    assert c.receptive_field == (3,) and c.jump == (2,)
    with pytest.raises(shapes.ShapeError, match="known int"):
        c.block_plan((0,), (1,))


def test_core_form_known_values():
    # kernel 1, stride 3: outputs between the kernel copies see no input sample at all
    up = {"kind": "conv_transpose", "rank": 1, "filters": 1, "kernel_size": 1, "strides": 3,
          "padding": "valid", "data_format": "channels_last"}
    c = shapes.chain([up], (1, 4, 1))
    plan = c.block_plan((1,), (3,))
    (lb,) = plan.layers
    assert plan.from_zeros == 0 and lb.in_range == ((1, 1),)
    assert lb.zeros == ((1, 0),) and lb.keep == ((0, 2),)    # one zero sample: 3 outputs
    # outputs [2, 5) need sample 1 only (it lands on 3); one zero sample before it
    # widens the valid core's output [3, 6) to [0, 6), of which [2, 5) is kept
    (lb,) = c.block_plan((2,), (5,)).layers
    assert lb.in_range == ((1, 2),) and lb.pads == ((1, 1),)
    assert lb.zeros == ((1, 0),) and lb.keep == ((2, 5),)
    # a 'same' convolution: zeros only at the true border, the whole core output kept
    conv = {"kind": "conv", "rank": 1, "filters": 1, "kernel_size": 3, "padding": "same",
            "data_format": "channels_last"}
    (lb,) = shapes.chain([conv], (1, 10, 1)).block_plan((0,), (4,)).layers
    assert lb.in_range == ((0, 5),) and lb.zeros == ((1, 0),) and lb.keep == ((0, 4),)
    # bilinear up-sampling by 2: clipped at the start, nothing added, keep from the slice
    bil = {"kind": "upsampling", "rank": 1, "size": 2, "interpolation": "bilinear"}
    (lb,) = shapes.chain([bil], (1, 10, 1)).block_plan((4,), (8,)).layers
    assert lb.in_range == ((1, 5),) and lb.zeros == ((0, 0),) and lb.keep == ((2, 6),)


def test_block_plan_from_zeros_skips_layers_under_padding():
    pad = {"kind": "zero_padding", "rank": 1, "padding": ((5, 0),)}
    conv = {"kind": "conv", "rank": 1, "filters": 1, "kernel_size": 2,
            "data_format": "channels_last"}
    c = shapes.chain([conv, pad, conv], (1, 6, 1))
    plan = c.block_plan((0,), (3,))            # inside the 5 zeros of the padding
    assert plan.from_zeros == 1
    assert plan.layers[1].in_range[0][0] == plan.layers[1].in_range[0][1]
    assert plan.layers[1].zeros == ((4, 0),)   # the 4 padding zeros the last conv reads
    assert c.block_plan((4,), (8,)).from_zeros is None
