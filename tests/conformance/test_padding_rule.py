"""One padding rule: the layers, the ops and ``cthulhu.shapes`` give the same verdict.

The rule (Keras 2): every convolution and pooling takes ``'valid'`` and
``'same'`` (any case); ``'causal'`` exists only for the plain convolution in 1D
(``Cthalpa1D``); nothing else is a padding name. It lives in the kind
(``cthulhu.shapes.get_kind(name).paddings(rank)``); here each consumer is asked
for every (kind, rank, padding) and must answer as the table below says.
"""

import numpy as np
import pytest

from cthulhu import layers as L
from cthulhu import ops, shapes
from cthulhu.shapes.catalog import CATALOG

PADDINGS = ["valid", "same", "SAME", "causal", "Causal", "full", 3]
KINDS = ["conv", "depthwise_conv", "separable_conv", "conv_transpose", "pooling"]


def expected(kind, rank, padding):
    """The rule, written here apart from cthulhu."""
    name = padding.lower() if isinstance(padding, str) else None
    if name in ("valid", "same"):
        return True
    return name == "causal" and kind == "conv" and rank == 1


def _verdict(call):
    try:
        call()
    except (ValueError, TypeError) as exc:      # a bad value, or not a padding at all
        assert "padding" in str(exc), exc
        return False
    return True


def _spec(kind, rank, padding):
    spec = {"kind": kind, "rank": rank, "padding": padding}
    if kind == "pooling":
        spec["pool_size"] = 2
    else:
        spec["kernel_size"] = 2
    if kind in ("conv", "separable_conv", "conv_transpose"):
        spec["filters"] = 1
    return spec


def _shape_function(kind, rank, padding):
    x = (None, *(8,) * rank, 2)
    return {
        "conv": lambda: shapes.conv(x, 1, 2, 1, padding, 1, "channels_last"),
        "depthwise_conv": lambda: shapes.depthwise_conv(x, 2, 1, padding, 1, 1, "channels_last"),
        "separable_conv": lambda: shapes.separable_conv(x, 1, 2, 1, padding, 1, 1,
                                                        "channels_last"),
        "conv_transpose": lambda: shapes.conv_transpose(x, 1, 2, 1, padding, None, 1,
                                                        "channels_last"),
        "pooling": lambda: shapes.pooling(x, 2, None, padding, "channels_last"),
    }[kind]


def _op(kind, rank, padding):
    x = np.ones((1, *(6,) * rank, 2))
    k = np.ones((*(2,) * rank, 2, 1))
    return {
        "conv": lambda: ops.conv(x, k, padding=padding),
        "depthwise_conv": lambda: ops.depthwise_conv(x, k, padding=padding),
        "separable_conv": lambda: ops.separable_conv(x, k, np.ones((*(1,) * rank, 2, 1)),
                                                     padding=padding),
        "conv_transpose": lambda: ops.conv_transpose(x, np.ones((*(2,) * rank, 1, 2)),
                                                     padding=padding),
        "pooling": lambda: ops.pool(x, 2, padding=padding),
    }[kind]


def _layers(kind, rank):
    return [getattr(L, row.name) for row in CATALOG.values()
            if row.kind == kind and row.rank == rank]


def _make_layer(cls, padding):
    if (cls in (L.DepthwiseCthalpa1D, L.DepthwiseCthalpa2D, L.DepthwiseCthalpa3D)
            or issubclass(cls, L.pooling._Pooling)):
        return lambda: cls(2, padding=padding)
    return lambda: cls(1, 2, padding=padding)


CASES = [(kind, rank, padding) for kind in KINDS for rank in (1, 2, 3) for padding in PADDINGS]


@pytest.mark.parametrize("kind, rank, padding", CASES)
def test_layer_op_and_shapes_agree_on_padding(kind, rank, padding):
    want = expected(kind, rank, padding)
    verdicts = {
        "kind.paddings": (padding.lower() if isinstance(padding, str) else padding)
        in shapes.get_kind(kind).paddings(rank),
        "spec": _verdict(lambda: shapes.chain([_spec(kind, rank, padding)],
                                              (None, *(8,) * rank, 2))),
        "shape function": _verdict(_shape_function(kind, rank, padding)),
    }
    op = _op(kind, rank, padding)
    verdicts["op"] = _verdict(op)
    for cls in _layers(kind, rank):
        verdicts[cls.__name__] = _verdict(_make_layer(cls, padding))
    assert verdicts == dict.fromkeys(verdicts, want)


def test_every_padded_layer_is_covered():
    covered = {cls for kind in KINDS for rank in (1, 2, 3) for cls in _layers(kind, rank)}
    padded = {getattr(L, row.name) for row in CATALOG.values()
              if "padding" in dict(row.signature) and row.kind not in ("zero_padding",)}
    assert covered == padded and len(covered) == 12 + 6    # 6 pooling layers


def test_causal_messages_agree():
    """The rejected 2D 'causal' reads the same from the layer, the op and the shapes."""
    want = "padding 'causal' is only for 1D convolutions, got it with a 2D kernel_size (3, 3)"
    with pytest.raises(ValueError) as layer:
        L.Cthalpa2D(1, 3, padding="causal")
    with pytest.raises(ValueError) as op:
        ops.conv(np.ones((1, 5, 5, 1)), np.ones((3, 3, 1, 1)), padding="causal")
    with pytest.raises(ValueError) as shape:
        shapes.conv((None, 5, 5, 1), 1, 3, 1, "causal", 1, "channels_last", "shapes")
    for info in (layer, op, shape):
        assert str(info.value).endswith(want)
