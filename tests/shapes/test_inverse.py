"""Inverse questions against brute force over the forward shape functions."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.shapes import (
    ShapeError,
    input_sizes,
    nearest_valid_sizes,
    output_length,
    returns_to_input,
    spec_from_config,
)


@st.composite
def layers_1d(draw):
    kind = draw(st.sampled_from(["conv", "conv", "transpose", "up", "crop", "pad"]))
    if kind == "conv":
        s = draw(st.integers(1, 3))
        d = 1 if s > 1 else draw(st.integers(1, 2))
        return spec_from_config("Cthalpa1D", {
            "filters": 1, "kernel_size": draw(st.integers(1, 5)), "strides": s,
            "dilation_rate": d, "padding": draw(st.sampled_from(["valid", "same", "causal"]))})
    if kind == "transpose":
        s = draw(st.integers(1, 3))
        op = draw(st.one_of(st.none(), st.integers(0, s - 1)))
        return {"kind": "conv_transpose", "rank": 1, "filters": 1, "data_format": "channels_last",
                "kernel_size": draw(st.integers(1, 4)), "strides": s, "output_padding": op,
                "padding": draw(st.sampled_from(["valid", "same"]))}
    if kind == "up":
        return spec_from_config("UbboSathla1D", {"size": draw(st.integers(1, 3))})
    pair = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    return spec_from_config("Cropping1D" if kind == "crop" else "Xexanoth1D",
                            {"cropping" if kind == "crop" else "padding": pair})


def _brute(layers, n):
    try:
        return shapes.chain(layers, (1, n, 1)).output_shape[1]
    except ShapeError:
        return None


N = 120


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(layers_1d(), min_size=1, max_size=4))
def test_input_sizes_equal_brute_force(layers):
    table = [_brute(layers, n) for n in range(N)]
    for n, value in enumerate(table):
        assert output_length(layers, n) == value
    outputs = {v for v in table if v is not None}
    top = max(outputs, default=0)
    for m in range(0, top + 2):
        got = input_sizes(layers, m, axis=0)
        want = [n for n, v in enumerate(table) if v == m]
        assert [n for n in got if n < N] == want
        if m < top:         # the interval ends inside the table: it is complete
            assert got.stop <= N
    fixed = [n for n, v in enumerate(table) if v == n]
    for n in range(0, N, 7):
        below, above = nearest_valid_sizes(layers, n, limit=N)
        assert below == max((f for f in fixed if f <= n), default=None)
        if above is not None and above < N:
            assert above == min(f for f in fixed if f >= n)
        elif above is None:
            assert not [f for f in fixed if f >= n]
        assert returns_to_input(layers, n) == (table[n] == n)


def test_unet_returns_to_multiples_of_its_total_stride():
    down = spec_from_config("Cthalpa2D", {"filters": 8, "kernel_size": 3, "strides": 2,
                                          "padding": "same"})
    same = spec_from_config("Cthalpa2D", {"filters": 8, "kernel_size": 3, "padding": "same"})
    up = spec_from_config("UbboSathla2D")
    unet = [same, down, same, down, same, up, same, up, same]
    assert returns_to_input(unet, 64) and not returns_to_input(unet, 62)
    assert nearest_valid_sizes(unet, 101) == (100, 104)
    assert nearest_valid_sizes(unet, 100) == (100, 100)
    assert input_sizes(unet, (16, 20)) == (range(13, 17), range(17, 21))
    assert input_sizes(unet, 15, axis=1) == range(0)


def test_valid_unet_never_returns():
    conv = spec_from_config("Cthalpa1D", {"filters": 1, "kernel_size": 3})
    assert nearest_valid_sizes([conv], 50, limit=200) == (None, None)
    assert input_sizes([conv], 10, axis=0) == range(12, 13)
    assert input_sizes([conv], 0, axis=0) == range(0)


def test_inverse_argument_errors():
    conv = spec_from_config("Cthalpa1D", {"filters": 1, "kernel_size": 3})
    with pytest.raises(ShapeError, match="axis"):
        input_sizes([conv], 4, axis=1)
    with pytest.raises(ShapeError, match="output_size"):
        input_sizes([conv], -1, axis=0)
    with pytest.raises(ShapeError, match="one output size per spatial axis"):
        input_sizes([conv], (3, 4))
