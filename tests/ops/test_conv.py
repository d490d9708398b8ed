"""Every convolution op against the plain-loop references, on every backend.

Hypothesis draws rank, sizes, kernel, strides or dilation, padding (strings
and explicit pairs), data format and dtype; the same example is checked on the
generic code called directly on NumPy and through ``cthulhu.ops`` on every
eager backend of ``tests.support.backends`` (the NumPy plugin, the generic code
on array-api-strict on two devices, CuPy when present). The fixed cases run on
every backend of the ``xp`` fixture, Dask included.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.support import ops_reference as ref
from tests.support.backends import call_op, op_runners

TOL = {np.float32: 2e-4, np.float64: 1e-10}


def _check(y, expected, dtype, fmt):
    if fmt == "channels_first":
        expected = ref.to_first(expected)
    assert y.dtype == dtype
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=TOL[dtype], atol=TOL[dtype])


def _input(rng, batch, spatial, channels, fmt, dtype):
    x = rng.uniform(-1, 1, (batch, *spatial, channels))
    return x.astype(dtype)


def _as_format(x, fmt):
    return x if fmt == "channels_last" else np.ascontiguousarray(ref.to_first(x))


@st.composite
def geometry(draw, causal=False, transpose=False):
    rank = draw(st.integers(1, 3))
    ksize = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    if draw(st.booleans()):
        strides = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
        dilation = (1,) * rank
    else:
        strides = (1,) * rank
        dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank)))
    choices = ["valid", "same"] + (["causal"] if causal and rank == 1 else [])
    if not transpose:
        choices.append("explicit")
    padding = draw(st.sampled_from(choices))
    spatial = []
    pairs = []
    for k, d in zip(ksize, dilation, strict=False):
        K = d * (k - 1) + 1
        lo, hi = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        low = K if padding == "valid" else max(1, K - lo - hi) if padding == "explicit" else 1
        if transpose:
            low = 1
        spatial.append(draw(st.integers(low, low + 4)))
        pairs.append((lo, hi))
    if padding == "explicit":
        padding = tuple(pairs)
    return {
        "rank": rank, "ksize": ksize, "strides": strides, "dilation": dilation,
        "padding": padding, "spatial": tuple(spatial),
        "batch": draw(st.integers(1, 2)),
        "fmt": draw(st.sampled_from(["channels_last", "channels_first"])),
        "dtype": draw(st.sampled_from([np.float32, np.float64])),
        "seed": draw(st.integers(0, 2**16)),
    }


@settings(max_examples=200)
@given(g=geometry(causal=True), channels=st.integers(1, 3), filters=st.integers(1, 3),
       bias=st.booleans(), relu=st.booleans())
def test_conv_matches_loop_reference(g, channels, filters, bias, relu):
    rng = np.random.default_rng(g["seed"])
    x = _input(rng, g["batch"], g["spatial"], channels, g["fmt"], g["dtype"])
    kernel = rng.uniform(-1, 1, (*g["ksize"], channels, filters)).astype(g["dtype"])
    b = rng.uniform(-1, 1, filters).astype(g["dtype"]) if bias else None
    expected = ref.conv(x, kernel, g["strides"], g["padding"], g["dilation"])
    if bias:
        expected = expected + b
    if relu:
        expected = np.maximum(expected, 0)
    for run in op_runners():
        y, _ = run("conv", _as_format(x, g["fmt"]), kernel, strides=g["strides"],
                            padding=g["padding"], dilation=g["dilation"],
                            data_format=g["fmt"], bias=b, activation="relu" if relu else None)
        _check(y, expected, g["dtype"], g["fmt"])


@settings(max_examples=200)
@given(g=geometry(transpose=True), channels=st.integers(1, 3), filters=st.integers(1, 3),
       data=st.data())
def test_conv_transpose_matches_loop_reference(g, channels, filters, data):
    rank = g["rank"]
    output_padding = None
    if data.draw(st.booleans()):
        output_padding = tuple(data.draw(st.integers(0, s - 1)) for s in g["strides"])
    lengths = [ref.keras_deconv_length(n, k, s, g["padding"], p, d) for n, k, s, p, d in
               zip(g["spatial"], g["ksize"], g["strides"], output_padding or (None,) * rank,
                   g["dilation"], strict=False)]
    assume(min(lengths) >= 1)
    rng = np.random.default_rng(g["seed"])
    x = _input(rng, g["batch"], g["spatial"], channels, g["fmt"], g["dtype"])
    kernel = rng.uniform(-1, 1, (*g["ksize"], filters, channels)).astype(g["dtype"])
    b = rng.uniform(-1, 1, filters).astype(g["dtype"])
    expected = ref.conv_transpose(x, kernel, g["strides"], g["padding"], output_padding,
                                  g["dilation"]) + b
    for run in op_runners():
        y, _ = run("conv_transpose", _as_format(x, g["fmt"]), kernel,
                            strides=g["strides"], padding=g["padding"],
                            output_padding=output_padding, dilation=g["dilation"],
                            data_format=g["fmt"], bias=b)
        _check(y, expected, g["dtype"], g["fmt"])


@settings(max_examples=120)
@given(g=geometry(), channels=st.integers(1, 3), multiplier=st.integers(1, 2))
def test_depthwise_conv_matches_loop_reference(g, channels, multiplier):
    rng = np.random.default_rng(g["seed"])
    x = _input(rng, g["batch"], g["spatial"], channels, g["fmt"], g["dtype"])
    kernel = rng.uniform(-1, 1, (*g["ksize"], channels, multiplier)).astype(g["dtype"])
    b = rng.uniform(-1, 1, channels * multiplier).astype(g["dtype"])
    expected = np.maximum(ref.depthwise(x, kernel, g["strides"], g["padding"],
                                        g["dilation"]) + b, 0)
    for run in op_runners():
        y, _ = run("depthwise_conv", _as_format(x, g["fmt"]), kernel,
                            strides=g["strides"], padding=g["padding"], dilation=g["dilation"],
                            data_format=g["fmt"], bias=b, activation="relu")
        _check(y, expected, g["dtype"], g["fmt"])


@settings(max_examples=60)
@given(g=geometry(), channels=st.integers(1, 3), multiplier=st.integers(1, 2),
       filters=st.integers(1, 3))
def test_separable_conv_matches_loop_reference(g, channels, multiplier, filters):
    rng = np.random.default_rng(g["seed"])
    x = _input(rng, g["batch"], g["spatial"], channels, g["fmt"], g["dtype"])
    dk = rng.uniform(-1, 1, (*g["ksize"], channels, multiplier)).astype(g["dtype"])
    pk = rng.uniform(-1, 1, (*(1,) * g["rank"], channels * multiplier, filters))
    pk = pk.astype(g["dtype"])
    b = rng.uniform(-1, 1, filters).astype(g["dtype"])
    expected = ref.separable(x, dk, pk, g["strides"], g["padding"], g["dilation"]) + b
    for run in op_runners():
        y, _ = run("separable_conv", _as_format(x, g["fmt"]), dk, pk,
                            strides=g["strides"], padding=g["padding"], dilation=g["dilation"],
                            data_format=g["fmt"], bias=b)
        _check(y, expected, g["dtype"], g["fmt"])


# Fixed cases the issue names, so a regression shows up by name and not by a Hypothesis seed.
CASES = [
    ("conv", dict(strides=(1, 1), padding="same", dilation=(1, 1))),
    ("conv", dict(strides=(2, 2), padding="same", dilation=(1, 1))),
    ("conv", dict(strides=(1, 2), padding="valid", dilation=(1, 1))),
    ("conv", dict(strides=(1, 1), padding="same", dilation=(2, 2))),
    ("conv", dict(strides=(1, 1), padding=((2, 0), (1, 3)), dilation=(1, 1))),
    ("conv", dict(strides=(1, 1), padding=((-1, 0), (0, -1)), dilation=(1, 1))),
]


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("op,cfg", CASES)
def test_conv_2d_named_cases(xp, op, cfg, fmt):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (2, 6, 5, 3))
    kernel = rng.uniform(-1, 1, (3, 2, 3, 4))
    if isinstance(cfg["padding"], tuple) and min(min(p) for p in cfg["padding"]) < 0:
        # negative explicit padding crops: equal to valid on the cropped input
        expected = ref.conv(x[:, 1:, :-1], kernel, cfg["strides"], "valid", cfg["dilation"])
    else:
        expected = ref.conv(x, kernel, cfg["strides"], cfg["padding"], cfg["dilation"])
    y, _ = call_op(xp, op, _as_format(x, fmt), kernel, data_format=fmt, **cfg)
    _check(y, expected, np.float64, fmt)


def test_causal_is_rank_one_left_padding(xp):
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (1, 7, 2))
    kernel = rng.uniform(-1, 1, (3, 2, 1))
    y, _ = call_op(xp, "conv", x, kernel, padding="causal", dilation=2)
    # output t only sees inputs <= t: changing the future leaves the past unchanged
    x2 = x.copy()
    x2[:, 5:] += 10.0
    y2, _ = call_op(xp, "conv", x2, kernel, padding="causal", dilation=2)
    np.testing.assert_allclose(y[:, :5], y2[:, :5])
    assert not np.allclose(y[:, 5:], y2[:, 5:])
    np.testing.assert_allclose(y, ref.conv(x, kernel, (1,), "causal", (2,)), atol=1e-12)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_transpose_inverts_shape_of_strided_conv(xp, rank):
    """A stride-2 'same' transposed conv maps n to 2n, the shape a stride-2 'same' conv undoes."""
    x = np.ones((1, *(3,) * rank, 2))
    kernel = np.ones((*(3,) * rank, 4, 2))
    y, _ = call_op(xp, "conv_transpose", x, kernel, strides=2, padding="same")
    assert y.shape == (1, *(6,) * rank, 4)
    z, _ = call_op(xp, "conv", y, np.ones((*(3,) * rank, 4, 1)), strides=2, padding="same")
    assert z.shape == (1, *(3,) * rank, 1)


def _inner(a, b):
    return float(np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64)))


@settings(max_examples=60)
@given(rank=st.integers(1, 3), data=st.data(), padding=st.sampled_from(["valid", "same"]),
       channels=st.integers(1, 3), filters=st.integers(1, 3))
def test_conv_transpose_is_the_adjoint_of_conv(rank, data, padding, channels, filters):
    """<conv(x, K), y> == <x, conv_transpose(y, K)>: the transposed op is conv's gradient.

    The same kernel array ``(*k, C, F)`` read in the transposed layout
    ``(*k, filters=C, in=F)`` maps F-channel maps back to C channels; the
    ``output_padding`` is chosen so that the transposed output has x's length.
    """
    ksize = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    spatial, outp = [], []
    for k, s in zip(ksize, strides, strict=True):
        n = data.draw(st.integers(k, k + 6))
        m = (n - k) // s + 1 if padding == "valid" else -(-n // s)
        # an output_padding (0..s-1) that gives back length n; else leave it inferred
        fits = [p for p in range(s) if ref.keras_deconv_length(m, k, s, padding, p, 1) == n]
        inferred = ref.keras_deconv_length(m, k, s, padding, None, 1) == n
        assume(fits or inferred)
        spatial.append(n)
        outp.append(fits[0] if fits else None)
    if any(p is None for p in outp):
        # Keras takes output_padding for all axes or none
        assume(all(p is None for p in outp))
        output_padding = None
    else:
        output_padding = tuple(outp)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.uniform(-1, 1, (2, *spatial, channels))
    kernel = rng.uniform(-1, 1, (*ksize, channels, filters))
    for run in op_runners():
        y_of_x, _ = run("conv", x, kernel, strides=strides, padding=padding)
        probe = rng.uniform(-1, 1, y_of_x.shape)
        back, _ = run("conv_transpose", probe, kernel, strides=strides,
                               padding=padding, output_padding=output_padding)
        assert back.shape == x.shape
        np.testing.assert_allclose(_inner(y_of_x, probe), _inner(x, back), rtol=1e-9,
                                   atol=1e-9)


@settings(max_examples=40)
@given(g=geometry(causal=True), channels=st.integers(1, 3), filters=st.integers(1, 3),
       a=st.floats(-2, 2), b=st.floats(-2, 2))
def test_conv_is_linear_in_x(g, channels, filters, a, b):
    rng = np.random.default_rng(g["seed"])
    x1 = rng.uniform(-1, 1, (g["batch"], *g["spatial"], channels))
    x2 = rng.uniform(-1, 1, x1.shape)
    kernel = rng.uniform(-1, 1, (*g["ksize"], channels, filters))
    cfg = dict(strides=g["strides"], padding=g["padding"], dilation=g["dilation"])
    run = op_runners()[1]  # the NumPy plugin
    lhs, _ = run("conv", a * x1 + b * x2, kernel, **cfg)
    y1, _ = run("conv", x1, kernel, **cfg)
    y2, _ = run("conv", x2, kernel, **cfg)
    np.testing.assert_allclose(lhs, a * y1 + b * y2, rtol=1e-9, atol=1e-9)
