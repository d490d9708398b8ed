"""matmul, upsample, pad/crop on every backend; dtypes and libraries of results; bad input."""

import array_api_strict as xps
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import ops
from tests.support import ops_reference as ref
from tests.support.backends import call_op, op_runners


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (2, 1, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_any_rank_with_bias_and_relu(xp, shape, dtype):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, shape).astype(dtype)
    w = rng.uniform(-1, 1, (4, 5)).astype(dtype)
    b = rng.uniform(-1, 1, 5).astype(dtype)
    expected = np.zeros((*shape[:-1], 5))
    for idx in np.ndindex(*shape[:-1]):
        for j in range(5):
            expected[(*idx, j)] = max(sum(float(x[(*idx, i)]) * float(w[i, j])
                                          for i in range(4)) + float(b[j]), 0.0)
    y, _ = call_op(xp, "matmul", x, w, bias=b, activation="relu")
    assert y.dtype == dtype and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@settings(max_examples=25)
@given(rank=st.integers(1, 3), data=st.data(), first=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_upsample_nearest_matches_loop(rank, data, first, dtype):
    spatial = tuple(data.draw(st.integers(1, 4)) for _ in range(rank))
    size = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    x = np.random.default_rng(rank).uniform(-1, 1, (2, *spatial, 3)).astype(dtype)
    expected = ref.upsample_nearest(x, size)
    fmt = "channels_first" if first else "channels_last"
    xin = np.ascontiguousarray(ref.to_first(x)) if first else x
    for run in op_runners():
        y, _ = run("upsample", xin, size, interpolation="nearest", data_format=fmt)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, ref.to_first(expected) if first else expected)


@settings(max_examples=20)
@given(h=st.integers(1, 4), w=st.integers(1, 4), a=st.integers(1, 4), b=st.integers(1, 4),
       first=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_upsample_bilinear_matches_tf_half_pixel_loop(h, w, a, b, first, dtype):
    x = np.random.default_rng(h * 10 + w).uniform(-1, 1, (2, h, w, 3)).astype(dtype)
    expected = ref.upsample_bilinear_2d(x, (a, b))
    fmt = "channels_first" if first else "channels_last"
    xin = np.ascontiguousarray(ref.to_first(x)) if first else x
    for run in op_runners():
        y, _ = run("upsample", xin, (a, b), interpolation="bilinear", data_format=fmt)
        assert y.dtype == dtype
        np.testing.assert_allclose(y, ref.to_first(expected) if first else expected,
                                   rtol=1e-5, atol=1e-6)


def test_bilinear_hand_worked_example():
    """tf.image.resize([[0, 4]], (1, 4), 'bilinear') = [0, 1, 3, 4] (half-pixel centres)."""
    x = np.asarray([0.0, 4.0]).reshape(1, 1, 2, 1)
    y = ops.upsample(x, (1, 2), interpolation="bilinear")
    np.testing.assert_allclose(y[0, 0, :, 0], [0.0, 1.0, 3.0, 4.0])


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_pad_and_crop(xp, fmt):
    x = np.arange(1.0, 7.0).reshape(1, 2, 3, 1)
    xin = np.ascontiguousarray(ref.to_first(x)) if fmt == "channels_first" else x
    y, _ = call_op(xp, "pad", xin, ((1, 0), (0, 2)), data_format=fmt)
    expected = np.zeros((1, 3, 5, 1))
    expected[0, 1:, :3, 0] = x[0, :, :, 0]
    np.testing.assert_array_equal(y, ref.to_first(expected) if fmt == "channels_first"
                                  else expected)
    z, _ = call_op(xp, "crop", xin, ((0, 1), (1, 1)), data_format=fmt)
    np.testing.assert_array_equal(np.asarray(z).reshape(-1), [2.0])


# -- dtypes and libraries ---------------------------------------------------

def _all_ops(x, fmt="channels_last"):
    """Every op once on a (1, 4, 4, 2) input; kernels in x's library and dtype."""
    import array_api_compat

    xp = array_api_compat.array_namespace(x)

    def w(*shape):
        return xp.ones(shape, dtype=x.dtype, device=array_api_compat.device(x))

    return {
        "conv": ops.conv(x, w(3, 3, 2, 3), padding="same", bias=w(3), activation="relu"),
        "conv_transpose": ops.conv_transpose(x, w(3, 3, 3, 2), strides=2, padding="same"),
        "depthwise_conv": ops.depthwise_conv(x, w(3, 3, 2, 2), strides=2, bias=w(4)),
        "separable_conv": ops.separable_conv(x, w(3, 3, 2, 1), w(1, 1, 2, 3), padding="same"),
        "matmul": ops.matmul(x, w(2, 3), bias=w(3)),
        "upsample": ops.upsample(x, (2, 2), interpolation="bilinear"),
    }


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_results_keep_library_and_dtype(dtype):
    x = np.random.default_rng(0).uniform(-1, 1, (1, 4, 4, 2)).astype(dtype)
    results = _all_ops(x)
    x64 = x.astype(np.float64)
    reference = _all_ops(x64)
    for name, y in results.items():
        assert type(y) is np.ndarray, name
        assert y.dtype == dtype, name
        np.testing.assert_allclose(y.astype(np.float64), reference[name],
                                   rtol=2e-2 if dtype == np.float16 else 1e-5, atol=1e-2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_strict_results_keep_library_device_and_dtype(dtype):
    x = xps.ones((1, 4, 4, 2), dtype=getattr(xps, dtype), device=xps.Device("device1"))
    for name, y in _all_ops(x).items():
        assert type(y) is type(x), name
        assert y.dtype == x.dtype, name
        assert y.device == x.device, name


def test_numpy_channels_first_matches_channels_last():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (2, 5, 6, 3))
    k = rng.uniform(-1, 1, (3, 3, 3, 4))
    last = ops.conv(x, k, padding="same", strides=2)
    first = ops.conv(np.moveaxis(x, -1, 1), k, padding="same", strides=2,
                     data_format="channels_first")
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), last, rtol=1e-12)


# -- bad input --------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: ops.conv(np.ones((1, 5, 2)), np.ones((3, 3, 1))), "x has 2 channels"),
    (lambda: ops.conv(np.ones((1, 5, 5, 2)), np.ones((3, 2, 1))), "must have 3 dimensions"),
    (lambda: ops.conv(np.ones((1, 5, 2)), np.ones((3, 2, 1)), padding="full"), "padding"),
    (lambda: ops.conv(np.ones((1, 5, 2)), np.ones((3, 2, 1)), strides=0), "strides"),
    (lambda: ops.conv(np.ones((1, 5, 2)), np.ones((3, 2, 1)), activation="softmax"),
     "activation"),
    (lambda: ops.conv(np.ones((1, 5, 2)), np.ones((3, 2, 1)), data_format="nhwc"),
     "data_format"),
    (lambda: ops.conv(np.ones((1, 5, 2)), np.ones((3, 2, 4)), bias=np.ones(3)), "bias"),
    (lambda: ops.conv(np.ones((1, 5, 2)), np.ones((3, 2, 4)), scale=np.ones(5)), "scale"),
    (lambda: ops.depthwise_conv(np.ones((1, 5, 2)), np.ones((3, 2, 2)), shift=np.ones(2)),
     "shift"),
    (lambda: ops.matmul(np.ones((2, 3)), np.ones((3, 4)), scale=np.ones(3)), "scale"),
    (lambda: ops.conv(np.ones((1, 5, 2)), np.ones((3, 2, 1)), activation="leaky_relu",
                      alpha=float("nan")), "alpha"),
    (lambda: ops.conv(np.ones((1, 2, 2)), np.ones((3, 2, 1))), "3"),
    (lambda: ops.conv(np.ones((1, 5, 2)), np.ones((3, 2, 1)), padding=((1, 1), (1, 1))),
     "pairs"),
    (lambda: ops.conv_transpose(np.ones((1, 5, 2)), np.ones((3, 1, 2)), padding="causal"),
     "padding"),
    (lambda: ops.conv_transpose(np.ones((1, 5, 2)), np.ones((3, 1, 2)), strides=2,
                                output_padding=2), "output_padding"),
    (lambda: ops.separable_conv(np.ones((1, 5, 2)), np.ones((3, 2, 1)), np.ones((1, 3, 4))),
     "pointwise_kernel"),
    (lambda: ops.matmul(np.ones((2, 3)), np.ones((4, 5))), "kernel must have shape"),
    (lambda: ops.upsample(np.ones((1, 2, 2, 1)), (2, 2), interpolation="cubic"),
     "interpolation"),
])
def test_bad_arguments_raise_value_error_naming_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="real floating"):
        ops.conv(np.ones((1, 5, 2), dtype=np.int32), np.ones((3, 2, 1)))
    with pytest.raises(TypeError, match="must be an array"):
        ops.conv([[1.0]], np.ones((3, 2, 1)))


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid"])
def test_matmul_plan_equals_the_call_for_any_input(activation):
    """MATMUL.plan(x, ...) runs like the call: for inputs of the planned kind (straight
    to the plugin), and for other shapes, dtypes and byte orders (through the checked
    call); it refuses what the call refuses, with the same message."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 5)).astype(np.float32)
    kernel = rng.standard_normal((5, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    act = None if activation == "sigmoid" else activation   # sigmoid: not an epilogue one
    run = ops.MATMUL.plan(x, kernel, bias=bias, activation=act)
    others = [x, x + 1, rng.standard_normal((4, 5)).astype(np.float32),
              x.astype(np.float64), x.astype(">f4")]
    for other in others:
        np.testing.assert_array_equal(np.asarray(run(other)),
                                      np.asarray(ops.matmul(other, kernel, bias=bias,
                                                            activation=act)))
    for args, kwargs in [((x, kernel[:4]), {}), ((x, kernel), {"bias": bias[:2]}),
                         ((x.astype(np.int32), kernel), {}),
                         ((x, kernel), {"activation": "swish"})]:
        with pytest.raises((ValueError, TypeError)) as planned:
            ops.MATMUL.plan(*args, **kwargs)
        with pytest.raises(type(planned.value)) as called:
            ops.matmul(*args, **kwargs)
        assert str(called.value) == str(planned.value)
