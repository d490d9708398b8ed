"""Chains: specs, per-layer shapes, receptive fields, jumps, the spatial part, block helpers."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import ShapeError, chain, layer_spec, spec_from_config, symbolic
from cthulhu.shapes.chain import split_axis


def conv1d(k=3, s=1, d=1, padding="valid"):
    return spec_from_config("Cthalpa1D", {"filters": 2, "kernel_size": k, "strides": s,
                                          "dilation_rate": d, "padding": padding})


# ------------------------------------------------------------------ specs
def test_spec_from_config_fills_documented_defaults():
    spec = spec_from_config("Cthalpa2D", {"filters": 64, "kernel_size": 3, "data_format": None})
    assert spec["kernel_size"] == (3, 3) and spec["strides"] == (1, 1)
    assert spec["padding"] == "valid" and spec["data_format"] == "channels_last"
    assert spec_from_config("Cropping3D")["cropping"] == ((1, 1),) * 3
    assert spec_from_config("UbboSathla1D")["size"] == (2,)
    assert spec_from_config("Xexanoth2D")["padding"] == ((1, 1), (1, 1))
    assert spec_from_config("Cthalpa1D", {"filters": 1, "kernel_size": 2})["data_format"] \
        == "channels_last"
    assert spec_from_config("Conv2DTranspose", {"filters": 1, "kernel_size": 2})["kind"] \
        == "conv_transpose"


@pytest.mark.parametrize("name, config, match", [
    ("Cthalpa2D", {"kernel_size": 3}, "Cthalpa2D: missing required argument 'filters'"),
    ("Cthalpa2D", {"filters": 1, "kernel_size": (3, 0), "name": "c1"},
     r"Cthalpa2D 'c1': kernel_size must be positive integers, got \(3, 0\)"),
    ("Cthalpa2D", {"filters": 1, "kernel_size": 3, "padding": "full"}, "padding must be one of"),
    ("Cthalpa2D", {"filters": 1, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
     "cannot be combined"),
    ("Cthalpa2DTranspose", {"filters": 1, "kernel_size": 3, "strides": 2, "output_padding": 2},
     "output_padding must be smaller"),
    ("Cthalpa2D", {"filters": 1, "kernel_size": 3, "padding": "causal"}, "causal"),
    ("Cropping2D", {"cropping": (1, 2, 3)}, "cropping"),
    ("Nyarlathotep", {}, "unknown layer 'Nyarlathotep'"),
])
def test_spec_from_config_errors_name_layer_argument_value(name, config, match):
    with pytest.raises(ShapeError, match=match):
        spec_from_config(name, config)


class _FakeLayer:
    def __init__(self, config, name="fake"):
        self._config, self.name = config, name

    def get_config(self):
        return dict(self._config, name=self.name)


def test_layer_spec_from_objects_and_dicts():
    Cthalpa3D = type("Cthalpa3D", (_FakeLayer,), {})
    spec = layer_spec(Cthalpa3D({"filters": 8, "kernel_size": 3}, name="c"))
    assert spec["kind"] == "conv" and spec["rank"] == 3 and spec["name"] == "c"

    class Custom:
        name = "odd"

        def shape_spec(self):
            return {"kind": "identity"}
    assert layer_spec(Custom())["kind"] == "pointwise"

    class Opaque:
        name = "lambda"

        def get_config(self):
            return {}

        def compute_output_shape(self, shape):
            return (shape[0], 7)
    c = chain([Opaque()], (None, 4, 4, 1))
    assert c.output_shape == (None, 7) and c.spatial_layers == 0
    assert layer_spec({"class_name": "Flatten", "config": {}})["kind"] == "flatten"
    with pytest.raises(TypeError):
        layer_spec(42)


# ------------------------------------------------------------------ shapes
def test_chain_shapes_match_the_layer_functions_one_by_one():
    specs = [spec_from_config("Cthalpa2D", {"filters": 8, "kernel_size": 3, "strides": 2,
                                            "padding": "same"}),
             spec_from_config("DepthwiseCthalpa2D", {"kernel_size": 3, "depth_multiplier": 2}),
             spec_from_config("Cthalpa2DTranspose", {"filters": 4, "kernel_size": 3,
                                                     "strides": 2}),
             spec_from_config("Xexanoth2D", {"padding": ((1, 0), (2, 2))}),
             spec_from_config("Cropping2D", {"cropping": 1}),
             spec_from_config("UbboSathla2D", {"size": (1, 3)}),
             spec_from_config("Flatten"), spec_from_config("Daoloth", {"units": 10})]
    c = chain(specs, (None, 33, 40, 3))
    want = [(None, 17, 20, 8), (None, 15, 18, 16), (None, 31, 37, 4), (None, 32, 41, 4),
            (None, 30, 39, 4), (None, 30, 117, 4), (None, 30 * 117 * 4), (None, 10)]
    assert c.output_shapes == want and c.output_shape == (None, 10)
    assert c.spatial_layers == 6 and "Flatten" in c.stop_reason


def test_chain_symbolic_shapes_and_binding():
    specs = [conv1d(3), conv1d(2, s=2), spec_from_config("UbboSathla1D")]
    c = chain(specs, symbolic("b, n, 1"))
    assert [str(s[1]) for s in c.output_shapes] == ["n - 2", "floor(n/2) - 1",
                                                    "2*floor(n/2) - 2"]
    assert shapes.evaluate(c.output_shape, n=11, b=2) == (2, 8, 2)
    for n in range(4, 30):
        assert shapes.evaluate(c.output_shape, n=n, b=1) == chain(specs, (1, n, 1)).output_shape
    with pytest.raises(ShapeError, match="n >= 4"):
        shapes.evaluate(c.output_shape, n=3, b=1)


def test_chain_bad_input_raises_shape_error():
    with pytest.raises(ShapeError, match="rank"):
        chain([conv1d()], (None, 10, 10, 1))
    with pytest.raises(ShapeError, match="at least"):
        chain([conv1d(5)], (None, 3, 1))
    with pytest.raises(ShapeError, match="input_shape"):
        chain([conv1d()])


# -------------------------------------------------------- spatial analysis
@pytest.mark.parametrize("layers, rf, jump, halo", [
    ([conv1d(3), conv1d(3)], 5, 1, (0, 4)),
    ([conv1d(3, padding="same"), conv1d(3, padding="same")], 5, 1, (2, 2)),
    ([conv1d(3, s=2), conv1d(3)], 7, 2, (0, 5)),
    ([conv1d(3, d=2), conv1d(3, d=3)], 11, 1, (0, 10)),
    ([conv1d(3, padding="causal", d=2)], 5, 1, (4, 0)),
    ([conv1d(1, s=2)], 1, 2, (0, -1)),
    ([spec_from_config("Cropping1D", {"cropping": (2, 1)})], 1, 1, (-2, 2)),
    ([spec_from_config("UbboSathla1D", {"size": 3})], 1, Fraction(1, 3), (0, 0)),
])
def test_chain_receptive_field_jump_halo(layers, rf, jump, halo):
    (axis,) = chain(layers, (1, 50, 1)).axes
    assert (axis.receptive_field, axis.jump, axis.halo) == (rf, jump, halo)
    assert axis.depth == (max(halo[0], 0), max(halo[1], 0))


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3)), min_size=1, max_size=5))
def test_chain_receptive_field_of_conv_stacks_matches_the_recurrence(params):
    """For strided valid convolutions: r += (k - 1) * j, j *= s (Araujo et al. 2019)."""
    layers = [conv1d(k, s) for k, s in params]
    rf, jump = 1, 1
    for k, s in params:
        rf += (k - 1) * jump
        jump *= s
    (axis,) = chain(layers, (1, 2000, 1)).axes
    assert axis.receptive_field == rf and axis.jump == jump and axis.block_multiple == jump
    assert axis.halo == (0, rf - jump)


def test_chain_pointwise_and_dense_keep_the_spatial_part():
    specs = [conv1d(3), {"kind": "pointwise"}, spec_from_config("Daoloth", {"units": 4}),
             spec_from_config("Darkness", {"rate": 0.5}), conv1d(3)]
    c = chain(specs, (None, 20, 1))
    assert c.spatial_layers == 5 and c.stop_reason is None and c.receptive_field == (5,)


def test_chain_layout_change_stops_the_analysis():
    first = spec_from_config("Cthalpa2D", {"filters": 3, "kernel_size": 3})
    other = spec_from_config("Cthalpa2D", {"filters": 3, "kernel_size": 3,
                                           "data_format": "channels_first"})
    c = chain([first, other], (None, 10, 10, 3))
    assert c.spatial_layers == 1 and "layout" in c.stop_reason
    assert c.spatial_axes == (1, 2) and c.receptive_field == (3, 3)


def test_chain_channels_first_axes():
    spec = spec_from_config("Cthalpa2D", {"filters": 3, "kernel_size": (3, 5),
                                          "data_format": "channels_first"})
    c = chain([spec], (None, 1, 10, 12))
    assert c.spatial_axes == (2, 3) and c.receptive_field == (3, 5)
    assert c.input_range((0, 0), (2, 2)) == ((0, 4), (0, 6))


def test_chain_prefix_info_and_output_blocks():
    c = chain([conv1d(3, s=2), spec_from_config("UbboSathla1D", {"size": 2})], (1, 17, 1))
    assert [a.jump for a in c.axis_info(upto=1)] == [2]
    assert c.output_block_multiple == (2,) and c.block_multiple == (2,)
    blocks = c.output_blocks((5,))
    assert blocks == [((0,), (4,)), ((4,), (8,)), ((8,), (12,)), ((12,), (16,))]
    with pytest.raises(ShapeError, match="inside"):
        c.block_plan((0,), (17,))


@settings(max_examples=100)
@given(st.integers(0, 100), st.integers(1, 30), st.integers(1, 8))
def test_split_axis_covers_the_axis_on_multiples(length, size, multiple):
    parts = split_axis(length, size, multiple)
    assert [i for a, b in parts for i in range(a, b)] == list(range(length))
    assert all(a % multiple == 0 for a, _ in parts)
    sizes = {b - a for a, b in parts[:-1]}
    assert len(sizes) <= 1 and all(n % multiple == 0 and n >= multiple for n in sizes)


def test_chain_of_a_model_and_its_layer_objects():
    from cthulhu import layers as L
    from cthulhu.models import Pile

    model = Pile([L.Cthalpa2D(4, 3, padding="same", input_shape=(32, 32, 1)),
                  L.Cthalpa2D(4, 3, strides=2), L.UbboSathla2D(2), L.Flatten(), L.Daoloth(3)])
    c = chain(model)
    assert c.output_shape == model.output_shape == (None, 3)
    assert c.output_shapes[:3] == [(None, 32, 32, 4), (None, 15, 15, 4), (None, 30, 30, 4)]
    assert c.spatial_layers == 3 and c.halo == ((1, 2), (1, 2))
    assert shapes.input_sizes(model, (16, 16)) == (range(17, 19), range(17, 19))


def test_chain_of_a_functional_model_skips_its_input_layer():
    from cthulhu import layers as L
    from cthulhu.models import Lump

    x = L.Input(shape=(16, 16, 1))
    y = L.UbboSathla2D(2)(L.Cthalpa2D(4, 3, padding="same")(x))
    c = chain(Lump(x, y))
    assert c.output_shape == (None, 32, 32, 4) and c.stop_reason is None
    assert c.halo == ((1, 1), (1, 1)) and c.jump == (Fraction(1, 2),) * 2


def test_chain_input_range_on_one_axis_checks_its_arguments():
    c = chain([conv1d(3, padding="same")], (1, 10, 1))
    assert c.input_range(2, 5, axis=0) == (1, 6)
    assert c.input_range(0, 10, axis=0) == (0, 10)
    with pytest.raises(ShapeError, match="axis"):
        c.input_range(0, 1, axis=1)
    with pytest.raises(ShapeError, match="inside"):
        c.input_range(5, 11, axis=0)
