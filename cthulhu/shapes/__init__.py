"""cthulhu.shapes: the standalone shape algebra (pure Python, imports no NumPy).

A size (``Dim``) is an ``int``, ``None`` (unknown) or a symbolic size. Every
output-shape formula of cthulhu lives here; layers, the Dask planner, model
summaries and the command line call these functions. See ``docs/shapes.md``.

Modules, lowest first (each imports only those above it, and nothing from
cthulhu outside this package): ``errors``, ``_arith`` (size arithmetic),
``layout`` (data formats), ``normalize`` (argument forms), ``lengths`` (one
axis), ``checks`` (input shapes), ``symbolic`` (symbolic sizes),
``nonspatial`` (whole-layer shapes of the non-spatial layers), ``axis_maps``
(range maps, halos, block plans), ``geometry`` (what an op hands a device
plugin), ``kinds`` (one ``Kind`` per family of
layers), ``spatial`` (whole-layer shapes of the spatial layers), ``catalog``
(one row per public layer), ``spec`` (layer specs), ``chain`` and ``graph``
(sequences and graphs of layers), ``inverse`` (inverse questions) and
``parse`` (the text language of ``cthulhu shape``).
"""

import importlib

from ._arith import MAX_SIZE, ceildiv
from .catalog import REQUIRED, LayerRow
from .chain import Chain, chain
from .checks import check_shape
from .errors import ShapeError, ShapeTypeError
from .geometry import (
    ConvGeometry,
    GlobalPoolGeometry,
    MatmulGeometry,
    PadGeometry,
    PoolGeometry,
    UpsampleGeometry,
    conv_geometry,
    global_pool_geometry,
    matmul_geometry,
    pad_geometry,
    pool_geometry,
    range_maps,
    upsample_geometry,
)
from .graph import Graph, graph
from .inverse import input_sizes, nearest_valid_sizes, output_length, returns_to_input
from .kinds import KINDS, ROLES, Kind, SpatialKind, get_kind
from .layout import (
    DATA_FORMATS,
    channel_index,
    channels_axis,
    from_channels_last,
    is_channels_first,
    is_channels_last,
    join_channels,
    normalize_data_format,
    spatial_axes,
    spatial_data_format,
    split_channels,
    to_channels_last,
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
from .nonspatial import dense, embedding, flatten, lstm, permute, repeat_vector, reshape, same_shape
from .normalize import (
    as_tuple,
    check_conv_args,
    normalize_cropping,
    normalize_output_padding,
    normalize_padding,
    normalize_size,
    normalize_zero_padding,
)
from .spatial import (
    conv,
    conv_transpose,
    cropping,
    depthwise_conv,
    global_pooling,
    pooling,
    separable_conv,
    upsampling,
    zero_padding,
)
from .spec import layer_spec, spec_from_config
from .symbolic import Sym, evaluate, format_shape, subs

# isort: split
# After the submodule .symbolic, whose import binds the package name `symbolic`:
# the name is the function.
from .parse import symbolic

__all__ = [
    "ShapeError", "ShapeTypeError", "ceildiv", "MAX_SIZE",
    "as_tuple", "normalize_padding", "normalize_data_format", "check_conv_args",
    "normalize_output_padding", "normalize_size", "normalize_cropping", "normalize_zero_padding",
    "dilated_kernel_size", "conv_length", "conv_padding", "conv_transpose_length",
    "conv_transpose_padding", "conv_transpose_output_padding", "pool_length", "crop_length",
    "pad_length", "upsample_length",
    "check_shape", "channels_axis", "conv", "conv_transpose", "depthwise_conv",
    "separable_conv", "cropping", "zero_padding", "upsampling", "pooling", "global_pooling",
    "spatial_data_format", "dense", "flatten", "reshape", "permute", "repeat_vector", "embedding",
    "lstm", "same_shape",
]
# Data formats (layout), layer kinds and the catalog.
__all__ += [
    "DATA_FORMATS", "is_channels_first", "is_channels_last", "channel_index", "spatial_axes",
    "split_channels", "join_channels", "to_channels_last",
    "from_channels_last", "Kind", "SpatialKind", "KINDS", "ROLES", "get_kind", "REQUIRED",
    "LayerRow",
]
# What an op hands a device plugin (cthulhu.shapes.geometry).
__all__ += [
    "ConvGeometry", "UpsampleGeometry", "MatmulGeometry", "PadGeometry", "PoolGeometry",
    "GlobalPoolGeometry", "conv_geometry", "upsample_geometry", "matmul_geometry",
    "pad_geometry", "pool_geometry", "global_pool_geometry", "range_maps",
]
# Symbolic sizes, chains, graphs and inverse questions (bound here, not lazily: ``chain``,
# ``graph`` and ``symbolic`` are also module names, and an imported submodule would shadow
# them).
__all__ += [
    "Sym", "symbolic", "evaluate", "subs", "format_shape", "chain", "Chain", "graph", "Graph",
    "spec_from_config", "layer_spec",
    "input_sizes", "output_length", "returns_to_input", "nearest_valid_sizes",
]

# Names the submodules export beyond ``__all__`` (``shapes.AxisInfo``,
# ``shapes.parse_shape``, ...) stay reachable as attributes. All but ``parse`` are
# already imported above; ``parse`` (the text language of ``cthulhu shape``) is
# imported on first use.
_SUBMODULES = ("symbolic", "chain", "graph", "inverse", "spec", "catalog", "parse")


def __getattr__(name):
    for module_name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{module_name}")
        if name in module.__all__ and hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
