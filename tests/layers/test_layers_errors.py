"""Bad arguments and bad inputs: ValueError/TypeError naming the layer and the value.

Arguments fail at construction (where they can be known then); inputs fail at
call time with the layer's class and name in the message, never an IndexError
from deep inside or a wrong-shaped result.
"""

import numpy as np
import pytest

from cthulhu import layers as L

BAD_ARGUMENTS = [
    # (constructor, kwargs, words the message must contain)
    (L.Cthalpa2D, dict(filters=0, kernel_size=3), ["filters", "0"]),
    (L.Cthalpa2D, dict(filters=-2, kernel_size=3), ["filters", "-2"]),
    (L.Cthalpa2D, dict(filters=2.5, kernel_size=3), ["filters", "2.5"]),
    (L.Cthalpa2D, dict(filters="8", kernel_size=3), ["filters", "'8'"]),
    (L.Cthalpa2D, dict(filters=True, kernel_size=3), ["filters", "True"]),
    (L.Cthalpa2D, dict(filters=4, kernel_size=(3, 0)), ["kernel_size", "(3, 0)"]),
    (L.Cthalpa2D, dict(filters=4, kernel_size=(3, 3, 3)), ["kernel_size", "(3, 3, 3)"]),
    (L.Cthalpa2D, dict(filters=4, kernel_size=3, strides=0), ["strides", "0"]),
    (L.Cthalpa2D, dict(filters=4, kernel_size=3, strides=2, dilation_rate=2),
     ["strides", "dilation_rate"]),
    (L.Cthalpa2D, dict(filters=4, kernel_size=3, padding="full"), ["padding", "'full'"]),
    (L.Cthalpa2D, dict(filters=4, kernel_size=3, padding="causal"), ["padding", "'causal'"]),
    (L.Cthalpa2D, dict(filters=4, kernel_size=3, data_format="NHWC"),
     ["data_format", "'NHWC'"]),
    (L.Cthalpa2D, dict(filters=4, kernel_size=3, use_bias="yes"), ["use_bias", "'yes'"]),
    (L.Cthalpa1D, dict(filters=4, kernel_size=3, dilation_rate=-1), ["dilation_rate", "-1"]),
    (L.Cthalpa3D, dict(filters=4, kernel_size=(1, 2)), ["kernel_size", "(1, 2)"]),
    (L.Cthalpa2DTranspose, dict(filters=4, kernel_size=3, strides=2, output_padding=2),
     ["output_padding", "(2, 2)"]),
    (L.Cthalpa2DTranspose, dict(filters=4, kernel_size=3, padding="causal"), ["padding"]),
    (L.Cthalpa3DTranspose, dict(filters=4, kernel_size=3, output_padding=1),
     ["output_padding"]),
    (L.SeparableCthalpa1D, dict(filters=4, kernel_size=3, padding="causal"), ["padding"]),
    (L.SeparableCthalpa2D, dict(filters=4, kernel_size=3, depth_multiplier=0),
     ["depth_multiplier", "0"]),
    (L.DepthwiseCthalpa2D, dict(kernel_size=3, depth_multiplier=-1), ["depth_multiplier", "-1"]),
    (L.Cropping2D, dict(cropping=-1), ["cropping", "-1"]),
    (L.Cropping2D, dict(cropping=((1, 2, 3), (0, 0))), ["cropping"]),
    (L.Cropping1D, dict(cropping="1"), ["cropping", "'1'"]),
    (L.Xexanoth2D, dict(padding=(1, 2, 3)), ["padding", "(1, 2, 3)"]),
    (L.Xexanoth3D, dict(padding={"top": 1}), ["padding"]),
    (L.UbboSathla1D, dict(size=0), ["size", "0"]),
    (L.UbboSathla2D, dict(size=(2, -1)), ["size", "(2, -1)"]),
    (L.UbboSathla3D, dict(size=1.5), ["size", "1.5"]),
    (L.Daoloth, dict(units=0), ["units", "0"]),
    (L.Daoloth, dict(units=4, activation="nope"), ["activation", "'nope'"]),
    (L.Cthalpa2D, dict(filters=2, kernel_size=3, kernel_initializer="nope"),
     ["kernel_initializer", "nope"]),
    (L.Daoloth, dict(units=2, bias_regularizer="nope"), ["bias_regularizer", "nope"]),
    (L.SeparableCthalpa2D, dict(filters=2, kernel_size=3, pointwise_constraint="nope"),
     ["pointwise_constraint", "nope"]),
    (L.TheHydra, dict(input_dim=3, output_dim=2, embeddings_initializer=5),
     ["embeddings_initializer", "5"]),
    (L.Laldagorth, dict(units=4, recurrent_activation="nope"), ["recurrent_activation", "'nope'"]),
    (L.Azatoth, dict(activation=3), ["activation", "3"]),
    (L.Darkness, dict(rate=1.0), ["rate", "1.0"]),
    (L.Darkness, dict(rate=0.5, seed="s"), ["seed", "'s'"]),
    (L.SpatialDarkness3D, dict(rate=0.2, data_format="x"), ["data_format", "'x'"]),
    (L.Flatten, dict(data_format="nchw"), ["data_format", "'nchw'"]),
    (L.Reshape, dict(target_shape=(-1, -1)), ["target_shape"]),
    (L.Permute, dict(dims=(1, 3)), ["dims", "(1, 3)"]),
    (L.RepeatVector, dict(n=0), ["n", "0"]),
    (L.Masking, dict(mask_value="zero"), ["mask_value", "'zero'"]),
    (L.LuKthu, dict(function=None), ["function"]),
    (L.LuKthu, dict(function=abs, output_shape=3), ["output_shape", "3"]),
    (L.LuKthu, dict(function=abs, arguments=[1]), ["arguments"]),
    (L.Laldagorth, dict(units=-1), ["units", "-1"]),
    (L.Laldagorth, dict(units=2, recurrent_dropout=-0.5), ["recurrent_dropout", "-0.5"]),
    (L.TheHydra, dict(input_dim=0, output_dim=2), ["input_dim", "0"]),
    (L.TheHydra, dict(input_dim=3, output_dim=2, input_length=0), ["input_length"]),
]


@pytest.mark.parametrize("cls, kwargs, words", BAD_ARGUMENTS,
                         ids=[f"{c.__name__}-{'-'.join(map(str, k))}" for c, k, _ in BAD_ARGUMENTS])
def test_bad_argument_fails_at_construction_naming_layer_and_value(cls, kwargs, words):
    with pytest.raises((ValueError, TypeError)) as info:
        cls(**kwargs, name="the_layer")
    message = str(info.value)
    assert cls.__name__ in message and "the_layer" in message, message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("cls", [L.Cthalpa2D, L.Daoloth, L.Flatten, L.Laldagorth])
def test_unknown_keyword_is_a_type_error(cls):
    args = {L.Cthalpa2D: (2, 3), L.Daoloth: (2,), L.Flatten: (), L.Laldagorth: (2,)}[cls]
    with pytest.raises(TypeError, match=f"{cls.__name__}.*kernal_size"):
        cls(*args, kernal_size=3)


@pytest.mark.parametrize("cls, args", [(L.SeparableCthalpa2D, (4, 3)),
                                       (L.SeparableCthalpa1D, (4, 3)),
                                       (L.DepthwiseCthalpa2D, (3,))])
def test_separable_layers_refuse_plain_kernel_arguments(cls, args):
    with pytest.raises(TypeError, match=f"{cls.__name__}.*kernel_initializer"):
        cls(*args, kernel_initializer="zeros")


BAD_INPUTS = [
    # (layer, input shape, message words)
    (lambda: L.Cthalpa2D(2, 3), (1, 5, 5), ["rank 4", "(1, 5, 5)"]),
    (lambda: L.Cthalpa2D(2, 3), (1, 2, 5, 3), ["kernel size 3", "got 2"]),  # too short for valid
    (lambda: L.Cthalpa1D(2, 3), (1, 5, 2, 2), ["rank 3"]),
    (lambda: L.Cthalpa3D(2, 3, data_format="channels_first"), (1, 2, 5, 5), ["rank 5"]),
    (lambda: L.Cropping2D(((2, 2), (0, 0))), (1, 3, 5, 1), ["cropping"]),
    (lambda: L.Cropping1D((3, 3)), (1, 5, 2), ["cropping"]),
    (lambda: L.Reshape((5,)), (1, 12), ["target_shape", "(5,)"]),
    (lambda: L.Permute((2, 1)), (1, 2, 3, 4), ["rank 3", "(1, 2, 3, 4)"]),
    (lambda: L.RepeatVector(2), (3,), ["rank 2"]),
    (lambda: L.Daoloth(3), (4,), ["rank >= 2"]),
    (lambda: L.UbboSathla3D(2), (1, 2, 2, 2), ["rank 5"]),
    (lambda: L.SpatialDarkness2D(0.5), (1, 4, 4), ["rank 4"]),
    (lambda: L.Laldagorth(2), (2, 3, 4, 5), ["rank 3"]),
]


@pytest.mark.parametrize("make, shape, words", BAD_INPUTS, ids=[str(s) for _, s, _ in BAD_INPUTS])
def test_bad_input_shape_names_layer(make, shape, words):
    layer = make()
    with pytest.raises(ValueError) as info:
        layer(np.ones(shape, dtype=np.float32))
    message = str(info.value)
    assert type(layer).__name__ in message and layer.name in message, message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("make, shape", [
    (lambda: L.Cthalpa2D(2, 3), (1, 5, 5, 3)),
    (lambda: L.Cthalpa2DTranspose(2, 3, data_format="channels_first"), (1, 3, 5, 5)),
    (lambda: L.DepthwiseCthalpa2D(3), (1, 5, 5, 3)),
    (lambda: L.SeparableCthalpa1D(2, 3), (1, 5, 3)),
    (lambda: L.Daoloth(2), (2, 3)),
    (lambda: L.Laldagorth(2), (2, 4, 3)),
])
def test_wrong_channel_count_after_build_names_layer(make, shape):
    layer = make()
    layer(np.ones(shape, dtype=np.float32))
    wrong = list(shape)
    axis = 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1
    wrong[axis] += 2
    with pytest.raises(ValueError, match=f"{type(layer).__name__} '{layer.name}'.*{shape[axis]}"):
        layer(np.ones(wrong, dtype=np.float32))


@pytest.mark.parametrize("make, shape", [
    (lambda: L.Cthalpa2D(2, 3), (1, 5, 5, 3)),
    (lambda: L.Cthalpa1D(2, 3), (1, 5, 3)),
    (lambda: L.Daoloth(2), (2, 3)),
    (lambda: L.Azatoth("relu"), (2, 3)),
    (lambda: L.Darkness(0.5), (2, 3)),
    (lambda: L.UbboSathla1D(2), (2, 3, 1)),
])
@pytest.mark.parametrize("dtype", [np.int32, np.bool_, np.complex64])
def test_non_float_input_is_a_type_error_naming_layer(make, shape, dtype):
    layer = make()
    with pytest.raises(TypeError, match=f"{type(layer).__name__} '{layer.name}'"):
        layer(np.ones(shape, dtype=dtype))


def test_set_weights_wrong_shapes_and_count_name_layer():
    layer = L.Cthalpa2D(4, 3, name="c")
    layer.build((None, 8, 8, 2))
    with pytest.raises(ValueError, match="Cthalpa2D 'c'.*kernel.*\\(3, 3, 2, 4\\)"):
        layer.set_weights([np.zeros((3, 3, 4, 2)), np.zeros(4)])  # a transposed layout
    with pytest.raises(ValueError, match="Cthalpa2D 'c'.*2"):
        layer.set_weights([np.zeros((3, 3, 2, 4))])


def test_unknown_channel_axis_cannot_build():
    with pytest.raises(ValueError, match="Cthalpa2D .*channel"):
        L.Cthalpa2D(2, 3).build((None, 5, 5, None))
    with pytest.raises(ValueError, match="Daoloth .*last axis"):
        L.Daoloth(2).build((None, None))
