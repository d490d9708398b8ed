"""cthulhu.shapes: the standalone shape algebra (pure Python, imports no NumPy).

A size (``Dim``) is an ``int``, ``None`` (unknown) or a symbolic size. Every
output-shape formula of cthulhu lives here; layers, the Dask planner, model
summaries and the command line call these functions. See ``docs/shapes.md``.

Modules: ``normalize`` (argument forms), ``lengths`` (one axis), ``layers`` and
``core`` (whole layers), ``errors``; the symbolic sizes, chains and inverse
questions live in ``symbolic``, ``chain`` and ``inverse``.
"""

import importlib

from ._arith import MAX_SIZE, ceildiv
from .chain import Chain, chain
from .core import dense, embedding, flatten, lstm, permute, repeat_vector, reshape, same_shape
from .errors import ShapeError, ShapeTypeError
from .inverse import input_sizes, nearest_valid_sizes, output_length, returns_to_input
from .layers import (
    channels_axis,
    check_shape,
    conv,
    conv_transpose,
    cropping,
    depthwise_conv,
    global_pooling,
    pooling,
    separable_conv,
    spatial_data_format,
    upsampling,
    zero_padding,
)
from .lengths import (
    conv_length,
    conv_padding,
    conv_transpose_length,
    conv_transpose_output_padding,
    conv_transpose_padding,
    crop_length,
    dilated_kernel_size,
    pad_length,
    pool_length,
    upsample_length,
)
from .normalize import (
    as_tuple,
    check_conv_args,
    normalize_cropping,
    normalize_data_format,
    normalize_output_padding,
    normalize_padding,
    normalize_size,
    normalize_zero_padding,
)
from .spec import describe_layer, layer_spec, spec_from_config
from .symbolic import Sym, evaluate, format_shape, subs, symbolic

__all__ = [
    "ShapeError", "ShapeTypeError", "ceildiv", "MAX_SIZE",
    "as_tuple", "normalize_padding", "normalize_data_format", "check_conv_args",
    "normalize_output_padding", "normalize_size", "normalize_cropping", "normalize_zero_padding",
    "dilated_kernel_size", "conv_length", "conv_padding", "conv_transpose_length",
    "conv_transpose_padding", "conv_transpose_output_padding", "pool_length", "crop_length",
    "pad_length", "upsample_length",
    "check_shape", "channels_axis", "conv", "conv_transpose", "depthwise_conv",
    "separable_conv", "cropping", "zero_padding", "upsampling", "pooling", "global_pooling",
    "spatial_data_format", "dense", "flatten", "reshape", "permute", "repeat_vector", "embedding", "lstm", "same_shape",
]
# Symbolic sizes, chains and inverse questions (bound here, not lazily: ``chain`` and
# ``symbolic`` are also module names, and an imported submodule would shadow them).
__all__ += [
    "Sym", "symbolic", "evaluate", "subs", "format_shape", "chain", "Chain",
    "spec_from_config", "layer_spec", "describe_layer",
    "input_sizes", "output_length", "returns_to_input", "nearest_valid_sizes",
]

# Names the submodules export beyond ``__all__`` (``shapes.AxisInfo``,
# ``shapes.parse_shape``, ...) stay reachable as attributes. All but ``parse`` are
# already imported above; ``parse`` (the text language of ``cthulhu shape``) is
# imported on first use.
_SUBMODULES = ("symbolic", "chain", "inverse", "spec", "parse")


def __getattr__(name):
    for module_name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{module_name}")
        if name in module.__all__ and hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
