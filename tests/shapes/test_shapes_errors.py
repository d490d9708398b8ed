"""Bad arguments raise ShapeError (a ValueError) naming the owner, the argument and the value."""

import pytest

from cthulhu import shapes
from cthulhu.shapes import ShapeError


class Cthalpa2D:
    """Stands in for a layer: the shape algebra only reads the class name and ``name``."""

    name = "conv2d_1"


OWNER = Cthalpa2D()
LABEL = "Cthalpa2D 'conv2d_1'"
IMG = (None, 8, 8, 3)

CASES = [
    # (call, words the message must contain)
    (lambda: shapes.check_conv_args((3, 0), (1, 1), (1, 1), OWNER), ["kernel_size", "(3, 0)"]),
    (lambda: shapes.check_conv_args((3, 3), (1, -2), (1, 1), OWNER), ["strides", "(1, -2)"]),
    (lambda: shapes.check_conv_args((3, 3), (1, 1), (0, 1), OWNER), ["dilation_rate", "(0, 1)"]),
    (lambda: shapes.check_conv_args((3, 3), (2, 1), (1, 2), OWNER),
     ["strides", "dilation_rate", "(2, 1)", "(1, 2)"]),
    (lambda: shapes.conv(IMG, 4, (3, 0), 1, "valid", 1, None, OWNER), ["kernel_size", "(3, 0)"]),
    (lambda: shapes.conv(IMG, 4, 3, 0, "valid", 1, None, OWNER), ["strides", "(0, 0)"]),
    (lambda: shapes.conv(IMG, 4, 3, 2, "valid", 2, None, OWNER), ["dilation_rate", "(2, 2)"]),
    (lambda: shapes.conv(IMG, 0, 3, 1, "valid", 1, None, OWNER), ["filters", "0"]),
    (lambda: shapes.conv(IMG, 4, 3, 1, "full", 1, None, OWNER), ["padding", "'full'"]),
    (lambda: shapes.conv(IMG, 4, 3, 1, "causal", 1, None, OWNER), ["causal", "(3, 3)"]),
    (lambda: shapes.conv(IMG, 4, 3, 1, "valid", 1, "channels_middle", OWNER),
     ["data_format", "'channels_middle'"]),
    (lambda: shapes.normalize_data_format("NHWC", OWNER), ["data_format", "'NHWC'"]),
    (lambda: shapes.normalize_padding("causal", OWNER, ("valid", "same")), ["padding", "causal"]),
    (lambda: shapes.conv((None, 8, 3), 4, (3, 3), 1, "valid", 1, None, OWNER),
     ["rank 4", "(None, 8, 3)"]),
    (lambda: shapes.conv((None, 2, 8, 3), 4, 3, 1, "valid", 1, "channels_last", OWNER),
     ["at least 3", "got 2"]),
    (lambda: shapes.conv_transpose(IMG, 4, 3, 2, "valid", 2, 1, None, OWNER),
     ["output_padding", "(2, 2)", "strides"]),
    (lambda: shapes.conv_transpose(IMG, 4, 3, (2, 3), "same", (1, 3), 1, None, OWNER),
     ["output_padding", "(1, 3)"]),
    (lambda: shapes.conv_transpose(IMG, 4, 3, 1, "causal", None, 1, None, OWNER),
     ["padding", "'causal'"]),
    (lambda: shapes.conv_transpose_length(5, 3, 2, "valid", 2, owner=OWNER),
     ["output_padding", "2"]),
    (lambda: shapes.depthwise_conv(IMG, 3, 1, "valid", 0, 1, None, OWNER),
     ["depth_multiplier", "0"]),
    (lambda: shapes.cropping((None, 5, 5, 3), ((2, 3), (0, 0)), None, OWNER),
     ["cropped", "(2, 3)", "got 5"]),
    (lambda: shapes.cropping((None, 5, 3), 3, None, OWNER), ["cropped", "(3, 3)"]),
    (lambda: shapes.cropping(IMG, -1, None, OWNER), ["cropping", "-1"]),
    (lambda: shapes.cropping(IMG, (1, 2, 3), None, OWNER), ["cropping", "(1, 2, 3)"]),
    (lambda: shapes.zero_padding(IMG, ((1, 2, 3), 1), None, OWNER), ["padding", "(1, 2, 3)"]),
    (lambda: shapes.zero_padding((None, 8, 3), {"top": 1}, None, OWNER), ["padding", "'top'"]),
    (lambda: shapes.upsampling(IMG, (2, 0), None, OWNER), ["size", "(2, 0)"]),
    (lambda: shapes.upsampling((None, 4, 4, 4, 1, 1), 2, None, OWNER), ["rank"]),
    (lambda: shapes.reshape((None, 12), (5, 2), OWNER), ["target_shape", "(5, 2)", "12"]),
    (lambda: shapes.reshape((None, 12), (-1, -1), OWNER), ["target_shape", "one -1", "(-1, -1)"]),
    (lambda: shapes.reshape((None, 12), (-1, 5), OWNER), ["target_shape", "(-1, 5)", "12"]),
    (lambda: shapes.reshape((None, 12), (0, 12), OWNER), ["target_shape", "(0, 12)"]),
    (lambda: shapes.permute((None, 3, 4), (1, 3), OWNER), ["dims", "permutation", "(1, 3)"]),
    (lambda: shapes.permute((None, 3, 4), (0, 1), OWNER), ["dims", "(0, 1)"]),
    (lambda: shapes.permute((None, 3, 4), (1, 1), OWNER), ["dims", "(1, 1)"]),
    (lambda: shapes.permute((None, 3, 4), (2, 1, 3), OWNER), ["rank 4", "(None, 3, 4)"]),
    (lambda: shapes.repeat_vector((None, 3, 4), 2, OWNER), ["rank 2", "(None, 3, 4)"]),
    (lambda: shapes.repeat_vector((None, 3), 0, OWNER), ["n", "0"]),
    (lambda: shapes.dense((None,), 3, OWNER), ["rank >= 2", "(None,)"]),
    (lambda: shapes.dense((None, 3), -1, OWNER), ["units", "-1"]),
    (lambda: shapes.lstm((None, 3), 4, owner=OWNER), ["rank 3", "(None, 3)"]),
    (lambda: shapes.embedding((None, 5), 8, 6, OWNER), ["input_length", "6", "(None, 5)"]),
    (lambda: shapes.embedding((None, 5), 8, (5, 5), OWNER), ["input_length", "(5, 5)"]),
    (lambda: shapes.as_tuple((1, 2, 3), 2, "kernel_size", OWNER), ["kernel_size", "(1, 2, 3)"]),
    (lambda: shapes.as_tuple(2.5, 2, "strides", OWNER), ["strides", "2.5"]),
    (lambda: shapes.as_tuple("3", 2, "strides", OWNER), ["strides", "'3'"]),
    (lambda: shapes.as_tuple(True, 2, "strides", OWNER), ["strides", "True"]),
    (lambda: shapes.conv((None, -1, 8, 3), 4, 3, 1, "same", 1, None, OWNER), ["negative", "-1"]),
    (lambda: shapes.conv((None, 2.0, 8, 3), 4, 3, 1, "same", 1, None, OWNER), ["2.0"]),
    (lambda: shapes.same_shape("abc", OWNER), ["input shape", "'abc'"]),
]


@pytest.mark.parametrize("call, words", CASES)
def test_bad_arguments_name_owner_argument_and_value(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert isinstance(info.value, ShapeError)
    message = str(info.value)
    assert message.startswith(LABEL + ": "), message
    for word in words:
        assert word in message, (word, message)


def test_string_owner_and_no_owner():
    with pytest.raises(ShapeError, match=r"^my net: kernel_size"):
        shapes.check_conv_args((0,), (1,), (1,), "my net")
    with pytest.raises(ShapeError, match=r"^kernel_size must be positive integers, got \(0,\)$"):
        shapes.check_conv_args((0,), (1,), (1,))


def test_type_errors_are_also_type_errors():
    with pytest.raises(TypeError):
        shapes.as_tuple(None, 2, "kernel_size")
    with pytest.raises(TypeError):
        shapes.permute((None, 3, 4), "21")


def test_numpy_free_integers_via_index():
    class Index:
        def __index__(self):
            return 3
    assert shapes.as_tuple(Index(), 2, "kernel_size") == (3, 3)
    assert shapes.as_tuple([Index(), 1], 2, "kernel_size") == (3, 1)


def test_separable_and_depthwise_refuse_causal():
    with pytest.raises(ShapeError, match="causal"):
        shapes.separable_conv((None, 8, 3), 4, 3, 1, "causal", 1, 1, None, OWNER)
    with pytest.raises(ShapeError, match="causal"):
        shapes.depthwise_conv((None, 8, 8, 3), 3, 1, "causal", 1, 1, None, OWNER)


def test_integer_like_sizes_and_dask_nan():
    np = pytest.importorskip("numpy")
    out = shapes.conv((np.int64(2), float("nan"), np.int32(9), 3), np.int64(4), 3, 1, "valid",
                      1, "channels_last")
    assert out == (2, None, 7, 4)
    assert all(type(d) is int for d in out if d is not None)
    assert shapes.reshape((None, 12), (np.int64(-1), np.int64(3))) == (None, 4, 3)
    assert shapes.permute((None, 3, 4), [np.int64(2), np.int64(1)]) == (None, 4, 3)
    assert type(shapes.dense((None, 3), np.int64(5))[1]) is int


def test_pooling_refuses_causal():
    with pytest.raises(ShapeError, match="padding"):
        shapes.pool_length(8, 2, None, "causal", owner=OWNER)
